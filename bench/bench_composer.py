"""Benchmark: the embedded composer's render speed on one core.

For one 3-minute cue per genre, times the whole `Composer.generate` call (plan, notes,
SoundFont synthesis part by part, production, MIDI file) and prints it as a multiple of
real time (the baseline: the cue's own duration; goal >= 20x with the default SoundFont and
the production stage, issue 12; it was 100x for TimGM6mb and a bare room). Also prints,
measured in the same run on the same MIDI, the bare SoundFont synthesis alone
(`soundfont.play`), so the cost of everything around the synthesizer shows as a ratio
(generate / synth).
Usage: python bench/bench_composer.py [--seconds 180] [--runs 3]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import statistics
import time
from fractions import Fraction

from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.engines.composer.render import synthesize
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Scene

BRIEFS = {
    "cinematic": "tense night chase through wet streets, builds to a crash at 02:10",
    "ambient": "ambient space drone, ethereal, swells",
    "electronic": "electronic club, energetic synths",
    "rock": "rock anthem, driving guitars, builds",
    "lofi": "lofi study beats, rainy window",
    "corporate": "corporate upbeat ukulele 120 bpm",
    "acoustic": "warm acoustic morning, gentle, hopeful",
    "jazz": "smoky jazz lounge, late night",
}


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    composer = Composer()
    sr, secs = composer.sample_rate, args.seconds
    print(
        f"composer {composer.version}, one core (cpu {cpu}), {secs:g} s cues, best of {args.runs}"
    )
    print(
        f"{'genre':<11} {'notes':>6} {'generate':>9} {'x real time':>12} {'synth':>7} {'ratio':>6}"
    )
    speeds = []
    for genre, text in BRIEFS.items():
        brief = make_brief(Scene("b", 0, round(secs * 25), Fraction(25), text, genre=genre))
        composer.generate([brief], seconds=[5.0], seed=1)  # warm caches (room response)
        total = best_of(args.runs, lambda b=brief: composer.generate([b], seconds=[secs], seed=1))
        _, pm = composer.compose(brief, seconds=secs, seed=1)
        samples = round((secs + 2.0) * sr)
        synth = best_of(
            args.runs,
            lambda pm=pm, samples=samples: synthesize(
                pm, sample_rate=sr, samples=samples, soundfont=composer.soundfont, gain_db=-6.0
            ),
        )
        notes = sum(len(i.notes) for i in pm.instruments)
        speeds.append(secs / total)
        print(
            f"{genre:<11} {notes:>6} {total:>8.2f}s {secs / total:>11.0f}x "
            f"{synth:>6.2f}s {total / synth:>5.2f}x"
        )
    print(
        f"render speed: min {min(speeds):.0f}x, median {statistics.median(speeds):.0f}x "
        f"real time (goal >= 20x)"
    )


if __name__ == "__main__":
    main()
