"""Mix cues into the soundtrack and bring it to a delivery loudness.

Loudness is BS.1770 (pyloudnorm); true peak is read at 4x oversampling and held under the
ceiling by a look-ahead limiter whose gain curve never exceeds what each sample needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from tasks.align import fade
from tasks.model import Cue

OVERSAMPLE = 4


@dataclass(frozen=True)
class Placement:
    """A cue at its place on the timeline: samples ``[start, end)``."""

    cue: Cue
    start: int
    end: int


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of (channels, samples) audio; -inf when silent/short."""
    if audio.shape[-1] < int(0.4 * sample_rate) or not np.any(audio):
        return float("-inf")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T.astype(np.float64)))


def peak_envelope(
    audio: np.ndarray, *, floor_dbtp: float | None = None, block: int = 8192
) -> np.ndarray:
    """Per-sample true-peak estimate: max |x| over both channels at 4x oversampling.

    With `floor_dbtp`, only blocks whose sample peak comes within 6 dB of the floor are
    oversampled (intersample overs stay far below 6 dB); elsewhere the sample peak stands,
    which is then known to lie below the floor.

    Returns
    -------
    np.ndarray, shape (samples,), float32
    """
    n = audio.shape[-1]
    sample_peak = np.abs(audio).max(axis=0).astype(np.float32)
    starts: Iterable[int]
    if floor_dbtp is None:
        starts = range(0, n, block)
    else:
        gate = 10 ** ((floor_dbtp - 6.0) / 20)
        padded = np.pad(sample_peak, (0, -n % block))
        hot = padded.reshape(-1, block).max(axis=1) > gate
        starts = (int(i) * block for i in np.flatnonzero(hot))
    out = sample_peak.copy()
    pad = 64  # filter context either side of a block
    for s in starts:
        lo, hi = max(0, s - pad), min(n, s + block + pad)
        up = resample_poly(audio[:, lo:hi], OVERSAMPLE, 1, axis=-1)
        up = np.abs(up).max(axis=0).reshape(-1, OVERSAMPLE).max(axis=1)
        seg = slice(s, min(n, s + block))
        out[seg] = np.maximum(out[seg], up[s - lo : s - lo + (seg.stop - seg.start)])
    return out


def true_peak_dbtp(audio: np.ndarray) -> float:
    """Highest true peak in dBTP (4x oversampling).

    Only blocks within 6 dB of the highest sample peak can hold the highest true peak.
    """
    sample_peak = float(np.abs(audio).max()) if audio.size else 0.0
    if sample_peak <= 0:
        return float("-inf")
    peak = float(peak_envelope(audio, floor_dbtp=20 * np.log10(sample_peak)).max())
    return float(20 * np.log10(peak))


def limit(
    audio: np.ndarray, sample_rate: int, *, ceiling_dbtp: float, window_s: float = 0.005
) -> np.ndarray:
    """Look-ahead true-peak limiter.

    The needed gain per sample is min-filtered then averaged over the same window, so the
    smooth gain curve is never above the gain any sample needs.
    """
    ceiling = 10 ** (ceiling_dbtp / 20)
    env = peak_envelope(audio, floor_dbtp=ceiling_dbtp)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-9))
    if need.min() >= 1.0:
        return audio
    w = max(3, int(window_s * sample_rate) | 1)
    gain = uniform_filter1d(minimum_filter1d(need, size=w, mode="nearest"), size=w, mode="nearest")
    return (audio * gain.astype(np.float32)).astype(np.float32)


def normalize(
    audio: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float,
    true_peak_dbtp_max: float,
    passes: int = 4,
) -> tuple[np.ndarray, dict[str, float]]:
    """Two-pass loudness normalisation with true-peak limiting.

    Returns
    -------
    (audio, report)
        report holds loudness and true peak before and after.
    """
    before = integrated_lufs(audio, sample_rate)
    report = {"before_lufs": before, "before_true_peak_dbtp": true_peak_dbtp(audio)}
    if not np.isfinite(before):
        return audio, {
            **report,
            "after_lufs": before,
            "after_true_peak_dbtp": report["before_true_peak_dbtp"],
        }
    out, now = audio, before
    for _ in range(passes):
        out = (out * np.float32(10 ** ((target_lufs - now) / 20))).astype(np.float32)
        out = limit(out, sample_rate, ceiling_dbtp=true_peak_dbtp_max - 0.1)
        now = integrated_lufs(out, sample_rate)
        if abs(now - target_lufs) < 0.05:
            break
    report.update(after_lufs=now, after_true_peak_dbtp=true_peak_dbtp(out))
    return out, report


def level(cue: Cue, *, target_lufs: float) -> Cue:
    """Scale a cue (body and tail) so its body sits at `target_lufs`."""
    now = integrated_lufs(cue.audio, cue.sample_rate)
    if not np.isfinite(now):
        return cue
    g = np.float32(10 ** ((target_lufs - now) / 20))
    return dataclasses.replace(cue, audio=cue.audio * g, tail=cue.tail * g)


def place(
    placements: list[Placement],
    *,
    total_samples: int,
    sample_rate: int,
    crossfade_s: float,
    declick_s: float = 0.005,
    channels: int = 2,
) -> np.ndarray:
    """Lay cues on a silent timeline of `total_samples`.

    Where one cue ends exactly where the next begins, they cross with an equal-power fade
    centred on the cut: the outgoing cue (with its ringing tail) fades over
    ``[cut - h, cut + h]`` while the incoming one rises on the complementary curve.
    Elsewhere the cue edges get `declick_s` fades and the timeline stays silent.

    Returns
    -------
    np.ndarray, shape (channels, total_samples), float32
    """
    out = np.zeros((channels, total_samples), np.float32)
    items = sorted(placements, key=lambda p: p.start)
    half = [0] * (len(items) + 1)  # half crossfade length at the start of item i
    for i in range(1, len(items)):
        a, b = items[i - 1], items[i]
        if a.end == b.start:
            half[i] = int(
                min(
                    crossfade_s * sample_rate / 2,
                    a.cue.tail.shape[-1],
                    a.end - a.start,
                    (b.end - b.start) // 2,
                )
            )
    click = max(1, round(declick_s * sample_rate))
    for i, p in enumerate(items):
        body = p.cue.audio
        if body.shape[-1] != p.end - p.start:
            raise ValueError(
                f"cue {p.cue.scene_id}: {body.shape[-1]} samples for a "
                f"{p.end - p.start}-sample span; fit it first"
            )
        h_in, h_out = half[i], half[i + 1]
        sig = np.concatenate([body, p.cue.tail[:, :h_out]], axis=-1).astype(np.float32)
        if h_in:  # rising half of the centred equal-power curve: sin(pi/4) .. 1
            curve = np.sin(0.25 * np.pi * (1 + (np.arange(h_in) + 0.5) / h_in))
            sig[:, :h_in] *= curve.astype(np.float32)
        if h_out:  # falling: cos over [end - h, end + h]
            x = (np.arange(2 * h_out) + 0.5) / (2 * h_out)
            n = body.shape[-1]
            sig[:, n - h_out : n + h_out] *= np.cos(0.5 * np.pi * x).astype(np.float32)
        else:
            n = min(click, sig.shape[-1])
            sig[:, -n:] *= fade(n, fade_in=False)
        end = min(p.start + sig.shape[-1], total_samples)
        out[:, p.start : end] += sig[:, : end - p.start]
    return out
