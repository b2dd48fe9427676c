"""The programme mix in blocks: a soundtrack of any length in constant memory.

`mix_programme_blocked` is `mix.mix_programme` over signals read block by block: the
placed cues (`mix.render`, each cue read from its spool only where a block overlaps it)
are written once to a raw file on disk; loudness is measured by `mix.LoudnessMeter` fed
block by block (the gates are applied to its hop sums); the look-ahead limiter works on
each block with enough of its neighbours around it that its gain there is the one a
whole-programme pass would give, and each pass's gain curve goes to disk. Two-pass (and
further) loudness streams the programme again instead of keeping it. What comes out is the
in-memory mix to within float rounding (the tests hold it to 0.1 LU and -90 dBFS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scoreflow.tasks.audio import mix
from scoreflow.tasks.audio.spool import BLOCK, DiskSignal, SignalWriter

Source = Callable[[int, int], np.ndarray]  # samples [lo, hi) as (channels, hi - lo)
PAD = 64  # resampling context `mix.peak_envelope` takes either side


@dataclass(frozen=True)
class Gain:
    """A gain curve: `scalar` times `curve` (a one-channel `DiskSignal`, or none: 1)."""

    scalar: float = 1.0
    curve: DiskSignal | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of the gain, float32."""
        s = np.float32(self.scalar)
        if self.curve is None:
            return np.full(stop - start, s, np.float32)
        return self.curve.read(start, stop)[0] * s


def blocks(samples: int, block: int) -> Iterator[tuple[int, int]]:
    """``[lo, hi)`` blocks covering ``[0, samples)``."""
    for lo in range(0, samples, block):
        yield lo, min(samples, lo + block)


@dataclass
class PeakMeter:
    """Highest true peak (4x oversampled) of a signal fed block by block with `PAD`
    samples of context: a block more than 6 dB under the highest sample peak so far
    cannot hold the highest true peak and is not oversampled."""

    sample_peak: float = 0.0
    true_peak: float = 0.0

    def feed(self, audio: np.ndarray, core: slice) -> None:
        """Measure ``audio[:, core]``; the rest of `audio` is its context."""
        peak = float(np.abs(audio[:, core]).max()) if audio[:, core].size else 0.0
        if peak <= 0 or peak * 2 < self.sample_peak:  # 2 = 6 dB
            return
        self.sample_peak = max(self.sample_peak, peak)
        env = mix.peak_envelope(audio, floor_dbtp=20 * np.log10(peak))
        self.true_peak = max(self.true_peak, float(env[core].max()))

    def dbtp(self) -> float:
        return 20 * float(np.log10(self.true_peak)) if self.true_peak > 0 else float("-inf")


def measure(
    source: Source,
    samples: int,
    sample_rate: int,
    *,
    regions: list[tuple[int, int]] | None = None,
    block: int = BLOCK,
    channels: int = 2,
    peak: bool = True,
) -> tuple[float, float]:
    """(integrated LUFS over `regions` or all, highest true peak dBTP, or nan without
    `peak`) of a source."""
    meter, peaks = mix.LoudnessMeter(sample_rate, channels), PeakMeter()
    pad = PAD if peak else 0
    for lo, hi in blocks(samples, block):
        a, b = max(0, lo - pad), min(samples, hi + pad)
        x = source(a, b)
        core = slice(lo - a, hi - a)
        mix.feed_regions(meter, x[:, core], lo, regions)
        if peak:
            peaks.feed(x, core)
    return meter.lufs(), peaks.dbtp() if peak else float("nan")


def normalize_gain_blocked(
    source: Source,
    samples: int,
    sample_rate: int,
    *,
    target_lufs: float,
    true_peak_dbtp_max: float,
    work: Path,
    regions: list[tuple[int, int]] | None = None,
    passes: int = 4,
    block: int = BLOCK,
    channels: int = 2,
) -> tuple[Gain, dict[str, float]]:
    """`mix.normalize_gain` of a source read in blocks; the gain curve lives in `work`.

    Returns
    -------
    (gain, report)
        As `mix.normalize_gain`, with the gain a `Gain`.
    """
    before, before_peak = measure(
        source, samples, sample_rate, regions=regions, block=block, channels=channels
    )
    report = {"before_lufs": before, "before_true_peak_dbtp": before_peak}
    gain, now, after_peak = Gain(), before, before_peak
    if np.isfinite(before):
        for k in range(passes):
            step = np.float32(10 ** ((target_lufs - now) / 20))
            gain = Gain(float(np.float32(gain.scalar) * step), gain.curve)
            superseded = gain.curve
            gain, now, after_peak = _limit_pass(
                source, gain, samples, sample_rate, ceiling_dbtp=true_peak_dbtp_max - 0.1,
                regions=regions, path=work / f"gain-{k}.f32", block=block, channels=channels,
            )  # fmt: skip
            if superseded is not None and gain.curve != superseded:
                superseded.path.unlink(missing_ok=True)  # each pass's curve replaces the last
            if abs(now - target_lufs) < 0.05:
                break
    report.update(after_lufs=now, after_true_peak_dbtp=after_peak)
    return gain, report


def _limit_pass(
    source: Source,
    gain: Gain,
    samples: int,
    sample_rate: int,
    *,
    ceiling_dbtp: float,
    regions: list[tuple[int, int]] | None,
    path: Path,
    block: int,
    channels: int,
) -> tuple[Gain, float, float]:
    """One limiting pass over the source at `gain`: the limiter's gain (`mix.limiter_gain`)
    block by block, with twice its window and the resampling context of neighbours around
    each block; returns (the gain with it, the loudness and the true peak after)."""
    w = max(3, int(0.005 * sample_rate) | 1)  # `mix.limiter_gain`'s window
    context = 2 * w + 2 * PAD
    meter, peaks = mix.LoudnessMeter(sample_rate, channels), PeakMeter()
    writer: SignalWriter | None = None
    for lo, hi in blocks(samples, block):
        a, b = max(0, lo - context), min(samples, hi + context)
        curve = _curve(gain, a, b)  # read once: it scales the source and is carried on
        x = source(a, b) * (curve * np.float32(gain.scalar))
        limited = mix.limiter_gain(x, sample_rate, ceiling_dbtp=ceiling_dbtp)
        if limited is not None:
            x = x * limited
            if writer is None:  # the first limiting: the curve so far is the old one's
                writer = SignalWriter(path, 1)
                for u, v in blocks(lo, block):
                    writer.write(_curve(gain, u, v)[None])
        core = slice(lo - a, hi - a)
        if writer is not None:
            mine = curve[core]
            writer.write((mine if limited is None else mine * limited[core])[None])
        mix.feed_regions(meter, x[:, core], lo, regions)
        edge = slice(max(0, lo - PAD - a), min(b, hi + PAD) - a)  # exact here
        peaks.feed(x[:, edge], slice(core.start - edge.start, core.stop - edge.start))
    if writer is not None:
        gain = Gain(gain.scalar, writer.close())
    return gain, meter.lufs(), peaks.dbtp()


def _curve(gain: Gain, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of a gain's curve without its scalar."""
    if gain.curve is None:
        return np.ones(stop - start, np.float32)
    return gain.curve.read(start, stop)[0]


@dataclass
class StreamedProgramme:
    """The mixed programme as `mix.Programme` has it, made block by block on demand.

    `parts(lo, hi)` gives ``soundtrack`` and, with dialogue mixed, ``mix``, ``stem_music``
    and ``stem_dialogue`` for samples ``[lo, hi)``.
    """

    samples: int
    bus: Source
    alone: Gain
    dialogue: DiskSignal | None = None
    mixed: Gain | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def parts(self, start: int, stop: int) -> dict[str, np.ndarray]:
        bus = self.bus(start, stop)
        out = {"soundtrack": (bus * self.alone.read(start, stop)).astype(np.float32)}
        if self.mixed is not None and self.dialogue is not None:
            g = self.mixed.read(start, stop)
            music, dialogue = bus * g, self.dialogue.read(start, stop) * g
            out |= {"mix": music + dialogue, "stem_music": music, "stem_dialogue": dialogue}
        return out


def place_to_disk(
    laid: list[mix.Laid],
    path: Path,
    *,
    total_samples: int,
    sample_rate: int,
    fade_in_s: float,
    fade_out_s: float,
    block: int = BLOCK,
    channels: int = 2,
) -> DiskSignal:
    """The placed cues (`mix.render`) written block by block to a `DiskSignal`."""
    with SignalWriter(path, channels) as writer:
        for lo, hi in blocks(total_samples, block):
            writer.write(mix.render(
                laid, lo, hi, total_samples=total_samples, sample_rate=sample_rate,
                fade_in_s=fade_in_s, fade_out_s=fade_out_s, channels=channels,
            ))  # fmt: skip
        return writer.close()


def mix_programme_blocked(
    music: DiskSignal,
    dialogue: DiskSignal | None,
    *,
    mixing: mix.Mixing,
    work: Path,
    block: int = BLOCK,
) -> StreamedProgramme:
    """`mix.mix_programme` of signals on disk, in blocks: its `mixing`, and the folder
    `work` for the gain curves."""
    m = mixing
    n, sample_rate = music.samples, m.sample_rate
    report: dict[str, Any] = {"dialogue_regions": len(m.regions)}
    scale = np.float32(1.0)
    duck: dict[str, Any] | None = None
    if dialogue is not None and m.regions:
        speech, _ = measure(dialogue.read, n, sample_rate, regions=m.regions, block=block,
                            peak=False)  # fmt: skip
        now, _ = measure(music.read, n, sample_rate, block=block, peak=False)
        level = m.level(speech, now)
        if level is not None:
            scale = level
        report["dialogue_lufs"] = speech
        duck = m.ducking(n)
        if duck is not None:
            report["duck_db"] = m.duck_db

    def bus(lo: int, hi: int) -> np.ndarray:
        x = music.read(lo, hi)
        x = x * scale if scale != 1.0 else x
        return x if duck is None else x * mix.duck_gain(**duck, start=lo, stop=hi)

    alone, soundtrack_report = normalize_gain_blocked(
        bus, n, sample_rate, target_lufs=m.target_lufs, true_peak_dbtp_max=m.true_peak_dbtp,
        work=work / "soundtrack", block=block,
    )  # fmt: skip
    report["soundtrack"] = soundtrack_report
    if dialogue is None or not m.with_dialogue:
        report.update(gate="programme", **soundtrack_report)
        return StreamedProgramme(n, bus, alone, report=report)

    def total(lo: int, hi: int) -> np.ndarray:
        return bus(lo, hi) + dialogue.read(lo, hi)

    gate = m.gate
    mixed, mix_report = normalize_gain_blocked(
        total, n, sample_rate, target_lufs=m.target_lufs, true_peak_dbtp_max=m.true_peak_dbtp,
        regions=gate, work=work / "mix", block=block,
    )  # fmt: skip
    report.update(gate="dialogue" if gate else "programme", **mix_report)
    return StreamedProgramme(n, bus, alone, dialogue, mixed, report)
