"""Benchmark: our numpy SoundFont player against TinySoundFont on the same MIDI.

TinySoundFont (the C library the composer used before; its Python wheel declares pyaudio,
so it is not a dependency) is the baseline, measured in the same run: per genre, a 60 s
cue's synthesis time for both, the level and spectral centroid of each render, and how
alike the two waveforms are (Pearson correlation of the mono sums, and of their 100 ms RMS
envelopes). Install the baseline beside scoreflow with
``pip install --no-deps tinysoundfont`` (our own code never imports it).
Usage: python bench/bench_soundfont.py [--seconds 60] [--soundfont PATH]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import time
from fractions import Fraction

import numpy as np
import pretty_midi

from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.engines.composer.render import channel_of, default_soundfont, synthesize
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Scene

GENRES = ("orchestral", "rock", "ambient", "jazz", "electronic", "lofi", "folk", "corporate")


def tinysoundfont_render(
    pm: pretty_midi.PrettyMIDI, sr: int, samples: int, soundfont: str, gain_db: float
) -> np.ndarray:
    """The baseline: TinySoundFont driven event by event, sample-accurate, (samples, 2)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(gain=gain_db, samplerate=sr)
    sfid = synth.sfload(soundfont)
    events = []
    for i, inst in enumerate(pm.instruments):
        chan = channel_of(i, inst)
        program = 0 if inst.is_drum else inst.program
        synth.program_select(chan, sfid, 0, program, is_drums=inst.is_drum)
        events += [(round(c.time * sr), 2, chan, c.number, c.value) for c in inst.control_changes]
        for n in inst.notes:
            events += [(round(n.start * sr), 1, chan, n.pitch, n.velocity)]
            events += [(round(n.end * sr), 0, chan, n.pitch, 0)]
    out = np.zeros(samples * 2, np.float32)
    view, pos = memoryview(out.data).cast("B"), 0
    for when, kind, chan, number, value in sorted(events):
        when = min(when, samples)
        if when > pos:
            synth.generate_simple(when - pos, buffer=view[pos * 8 : when * 8])
            pos = when
        if kind == 2:
            synth.control_change(chan, number, value)
        elif kind:
            synth.noteon(chan, number, value)
        else:
            synth.noteoff(chan, number)
    if pos < samples:
        synth.generate_simple(samples - pos, buffer=view[pos * 8 :])
    return out.reshape(-1, 2)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12))


def centroid_hz(x: np.ndarray, sr: int) -> float:
    mono = x.mean(axis=1)
    power = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    return float((power * np.fft.rfftfreq(len(mono), 1 / sr)).sum() / power.sum())


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--soundfont", default=default_soundfont())
    args = ap.parse_args()
    try:
        import tinysoundfont  # noqa: F401
    except ImportError:
        raise SystemExit("the baseline is missing: pip install --no-deps tinysoundfont") from None
    composer, sr, secs, sf = Composer(), 48000, args.seconds, args.soundfont
    block, n = sr // 10, secs * sr
    print(f"{os.path.basename(sf)}, {secs} s cues, one process; x = times real time")
    print(f"{'genre':<11} {'tsf':>7} {'ours':>7} {'tsf dB':>7} {'ours dB':>8} "
          f"{'tsf Hz':>7} {'ours Hz':>8} {'wave r':>7} {'env r':>6}")  # fmt: skip
    for genre in GENRES:
        scene = Scene(id="1", start_frame=0, end_frame=25 * secs, rate=Fraction(25),
                      description=f"{genre} cue, builds")  # fmt: skip
        _, pm = composer.compose(make_brief(scene, vocab=composer.vocab), seconds=secs, seed=3)
        base, t_base = timed(lambda pm=pm: tinysoundfont_render(pm, sr, n, sf, -6.0))
        ours, t_ours = timed(
            lambda pm=pm: synthesize(pm, sample_rate=sr, samples=n, soundfont=sf, gain_db=-6.0)
        )
        wave_r = np.corrcoef(base.mean(1), ours.mean(1))[0, 1]
        env = [np.sqrt((x.mean(1)[: n // block * block].reshape(-1, block) ** 2).mean(1))
               for x in (base, ours)]  # fmt: skip
        print(
            f"{genre:<11} {secs / t_base:>6.0f}x {secs / t_ours:>6.0f}x {rms_db(base):>7.1f} "
            f"{rms_db(ours):>8.1f} {centroid_hz(base, sr):>7.0f} {centroid_hz(ours, sr):>8.0f} "
            f"{wave_r:>7.3f} {np.corrcoef(*env)[0, 1]:>6.3f}"
        )


if __name__ == "__main__":
    main()
