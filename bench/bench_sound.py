"""Benchmark: how finished the composer sounds, measured as ../shared/MEASURES.md reads it.

One cue per genre (8 genres, 180 s by default), rendered by the composer with the default
SoundFont, the cue file written as delivered (`align.ring_out`), and per genre:

- hf12: energy above 12 kHz against the total (dB), mono mix, one Hann FFT;
- corr: Pearson correlation of left and right;
- drum%: distinct drum-bar patterns (pitch, 16th index) over bars (bars from the MIDI's
  downbeats, bars under 0.5 s skipped);
- onset: SD (ms) of note starts against the nearest 16th (median over parts with >= 16
  notes; the smallest part's figure too);
- vel: velocity SD, median over pitched parts with >= 16 notes; mel: the melody's;
- tail: peak (dBFS) of the cue file's last 5 ms;
- key: the MIDI's first key signature equals the brief's key (minor cues included);
- x rt: render speed on one core against the cue's duration (baseline: real time).

Then, through the mix (`mix.music_bus` + `mix.mix_programme`: the in-memory mix, which the
flow's blocked one equals to within float rounding), the
level-follows-intensity figure: two scenes with one description, intensity 0.15 and 0.95,
a gap between; RMS of the soundtrack over each leaving 3 s at either end; the difference.
And the entry: a cue that follows another on a cut (matched) against one after silence,
RMS of its first 3 s against the rest.

Goals (issue 12): hf12 no genre under -50, median -40..-28; corr median 0.3..0.8;
drum% >= 25; onset 4..20 ms every part; melody vel SD >= 8; tail < -60; level >= 4 dB;
x rt >= 20.
Usage: python bench/bench_sound.py [--seconds 180] [--genres rock,jazz]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import io
import itertools
import statistics
import time
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pretty_midi

from scoreflow import config
from scoreflow.tasks.audio import align, mix
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.engines.composer.parts import melody_instrument
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.music.theory import pitch_class
from scoreflow.tasks.timeline.model import Brief, Scene

BRIEFS = {
    "cinematic": "tense night chase through wet streets, cinematic, in C minor",
    "ambient": "ambient space drone, ethereal, swells",
    "electronic": "electronic club, energetic synths, builds",
    "rock": "rock anthem, driving guitars",
    "lofi": "lofi study beats, rainy window, in F minor",
    "corporate": "corporate upbeat ukulele 120 bpm",
    "acoustic": "warm acoustic morning, gentle, hopeful",
    "jazz": "smoky jazz lounge, late night",
}
SR = 48000


def hf_db(audio: np.ndarray, sample_rate: int, *, above_hz: float = 12000.0) -> float:
    mono = audio.mean(axis=0).astype(np.float64)
    power = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / sample_rate)
    return float(10 * np.log10(power[freqs >= above_hz].sum() / power.sum()))


def lr_correlation(audio: np.ndarray) -> float:
    return float(np.corrcoef(audio[0], audio[1])[0, 1])


def grid_of(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Sixteenth-note grid times from the MIDI's beats."""
    beats = pm.get_beats()
    nxt = np.append(beats[1:], 2 * beats[-1] - beats[-2] if len(beats) > 1 else beats[-1] + 0.5)
    return (beats[:, None] + (nxt - beats)[:, None] * np.arange(4) / 4).ravel()


def drum_distinct(pm: pretty_midi.PrettyMIDI) -> float:
    downbeats = [*pm.get_downbeats(), pm.get_end_time()]
    grid = grid_of(pm)
    drums = [n for i in pm.instruments if i.is_drum for n in i.notes]
    patterns, bars = set(), 0
    for a, b in itertools.pairwise(downbeats):
        if b - a < 0.5:
            continue
        first = int(np.argmin(np.abs(grid - a)))
        notes = frozenset(
            (n.pitch, int(np.argmin(np.abs(grid - n.start))) - first)
            for n in drums
            if a - 0.02 <= n.start < b - 0.02
        )
        patterns.add(notes)
        bars += 1
    return 100.0 * len(patterns) / max(bars, 1)


def onset_sd_ms(pm: pretty_midi.PrettyMIDI) -> dict[str, float]:
    grid = grid_of(pm)
    out = {}
    for inst in pm.instruments:
        if len(inst.notes) < 16:
            continue
        starts = np.array([n.start for n in inst.notes])
        near = grid[np.abs(grid[None, :] - starts[:, None]).argmin(axis=1)]
        out[inst.name] = float(np.std(starts - near) * 1000)
    return out


def velocity_sd(pm: pretty_midi.PrettyMIDI) -> dict[str, float]:
    return {
        i.name: float(np.std([n.velocity for n in i.notes]))
        for i in pm.instruments
        if not i.is_drum and len(i.notes) >= 16
    }


def tail_dbfs(audio: np.ndarray, sample_rate: int) -> float:
    last = np.abs(audio[:, -round(0.005 * sample_rate) :]).max()
    return float(20 * np.log10(max(last, 1e-12)))


def key_ok(pm: pretty_midi.PrettyMIDI, brief: Brief) -> bool:
    key = pm.key_signature_changes[0].key_number
    minor = brief.mode in ("minor", "dorian", "phrygian")
    return key % 12 == pitch_class(brief.key) and (key >= 12) == minor


def scene(scene_id: str, text: str, start_s: float, seconds: float, **fields) -> Scene:
    return Scene(scene_id, round(start_s * 25), round((start_s + seconds) * 25), Fraction(25),
                 text, **fields)  # fmt: skip


def programme(composer: Composer, scenes: list[Scene], briefs: list[Brief], total_s: float):
    """The soundtrack as the flow mixes it (default config: intensity range, preset)."""
    cfg = config.load_settings(None)
    chosen = config.preset(cfg)
    placements = []
    for k, (s, b) in enumerate(zip(scenes, briefs, strict=True)):
        start, end = s.sample_span(SR)
        cue = composer.generate([b], seconds=[(end - start) / SR], seed=100 + k)[0]
        cue = align.fit_cue(cue, end - start)
        level = mix.intensity_level_db(b.intensity, range_lu=cfg.mix.intensity_range_lu)
        placements.append(mix.Placement(cue, start, end, level_db=level))
    total = round(total_s * SR)
    bus = mix.music_bus(placements, target_lufs=chosen["target_lufs"], total_samples=total,
                        sample_rate=SR, crossfade_s=cfg.mix.crossfade_s)  # fmt: skip
    mixing = mix.Mixing(sample_rate=SR, regions=[], target_lufs=chosen["target_lufs"],
                        true_peak_dbtp=chosen["true_peak_dbtp"])  # fmt: skip
    return mix.mix_programme(bus, None, mixing=mixing).music


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-20))


def level_follows_intensity(composer: Composer) -> float:
    text = "warm acoustic morning, gentle"
    scenes = [
        scene("quiet", text, 0, 20, intensity=0.15),
        scene("loud", text, 25, 20, intensity=0.95),
    ]
    audio = programme(composer, scenes, [make_brief(s) for s in scenes], 45)
    quiet, loud = (audio[:, (s.sample_span(SR)[0] + 3 * SR) : (s.sample_span(SR)[1] - 3 * SR)]
                   for s in scenes)  # fmt: skip
    return rms_db(loud) - rms_db(quiet)


def entry_dip(composer: Composer, entry: str) -> float:
    """RMS of a cue's first 3 s against the rest of it (dB; negative: a quieter start)."""
    b = replace(make_brief(scene("e", "rock anthem, driving guitars", 0, 30)), entry=entry)
    cue = composer.generate([b], seconds=[30.0], seed=5)[0]
    return rms_db(cue.audio[:, : 3 * SR]) - rms_db(cue.audio[:, 3 * SR :])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--genres", default=",".join(BRIEFS))
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    composer = Composer()
    composer.generate([make_brief(scene("w", "rock", 0, 4))], seconds=[4.0], seed=0)  # warm-up
    print(f"composer {composer.version}, SoundFont {composer.model} ({composer.soundfont_licence})"
          f", {args.seconds:g} s cues, one core")  # fmt: skip
    head = f"{'genre':<11}{'hf12 dB':>8}{'corr':>6}{'drum%':>7}{'onset ms':>10}{'min':>6}"
    print(head + f"{'vel SD':>8}{'mel':>6}{'tail dBFS':>10}{'key':>5}{'x rt':>6}")
    rows = []
    for genre in args.genres.split(","):
        b = make_brief(scene(genre, BRIEFS[genre], 0, args.seconds))
        t = time.perf_counter()
        cue = composer.generate([b], seconds=[args.seconds], seed=1)[0]
        speed = args.seconds / (time.perf_counter() - t)
        pm = pretty_midi.PrettyMIDI(io.BytesIO(cue.midi or b""))
        onsets, vels = onset_sd_ms(pm), velocity_sd(pm)
        melody = melody_instrument(b, composer.vocab) or "melody"
        row = {
            "hf": hf_db(cue.audio, SR),
            "corr": lr_correlation(cue.audio),
            "drum": drum_distinct(pm) if b.drums else float("nan"),
            "onset": statistics.median(onsets.values()),
            "onset_min": min(onsets.values()),
            "vel": statistics.median(vels.values()) if vels else float("nan"),
            "mel": vels.get(melody, float("nan")),
            "tail": tail_dbfs(align.ring_out(cue), SR),
            "key": key_ok(pm, b),
            "speed": speed,
        }
        rows.append(row)
        print(f"{genre:<11}{row['hf']:>8.1f}{row['corr']:>6.2f}{row['drum']:>7.0f}"
              f"{row['onset']:>10.1f}{row['onset_min']:>6.1f}{row['vel']:>8.1f}{row['mel']:>6.1f}"
              f"{row['tail']:>10.0f}{'yes' if row['key'] else 'NO':>5}{row['speed']:>6.0f}",
              flush=True)  # fmt: skip
    med = {k: statistics.median(r[k] for r in rows if r[k] == r[k]) for k in ("hf", "corr")}
    print(
        f"median hf12 {med['hf']:.1f} dB (goal -40..-28, none under -50: lowest "
        f"{min(r['hf'] for r in rows):.1f}); median corr {med['corr']:.2f} (goal 0.3..0.8)"
    )
    print(
        f"level follows intensity (0.95 vs 0.15 of one brief): "
        f"{level_follows_intensity(composer):+.1f} dB (goal >= 4)"
    )
    print(
        f"entry, first 3 s against the rest: after a cut (matched) "
        f"{entry_dip(composer, 'matched'):+.1f} dB, after silence (soft) "
        f"{entry_dip(composer, 'soft'):+.1f} dB"
    )


if __name__ == "__main__":
    main()
