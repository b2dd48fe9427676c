"""Find where the original audio has dialogue, from energy and spectral cues.

Per 10 ms frame, three cues must agree:

- **level**: the frame is at least `margin_db` above the track's noise floor (its 10th
  percentile level) and above an absolute floor;
- **voice band**: most of its energy lies in 80-4000 Hz;
- **syllable rhythm**: the level envelope around it (1 s) is modulated at 2-8 Hz, as speech
  is, by at least `modulation_db`; steady music, tones and noise are not.

The frame decisions are smoothed (pauses shorter than `bridge_s` are bridged, bursts
shorter than `min_speech_s` dropped). This is no language model; it is meant to find the
talking that music should duck under, and the report shows what it found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import rfft
from scipy.ndimage import binary_closing, binary_opening, uniform_filter1d
from scipy.signal import butter, get_window, sosfiltfilt

from scoreflow.tasks.audio.media import read_audio

HOP_S = 0.01


def mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index runs where `mask` is true."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def frame_features(
    read: Callable[[int, int], np.ndarray], samples: int, sample_rate: int, first: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Voice-band share and level (dB re a full-scale sine) of 10 ms frames
    ``[first, stop)`` of a mono signal of `samples`, read through `read(lo, hi)` (silence
    outside ``[0, samples)``). Frame k covers ``[(k - 1) hop, (k + 1) hop)`` under a Hann
    window (scipy's STFT framing); its level is the mean square over the same 20 ms, centred
    no later than the last sample. Any split of the frames gives the same figures.

    Returns
    -------
    (band, level_db), each shape (stop - first,)
    """
    hop = round(HOP_S * sample_rate)
    lo = (first - 1) * hop
    x = read(lo, (stop + 1) * hop)
    frames = sliding_window_view(x, 2 * hop)[::hop][: stop - first]
    window = get_window("hann", 2 * hop)
    nfft = 1 << (2 * hop - 1).bit_length()
    power = np.abs(rfft(frames * window, nfft, axis=-1) / window.sum()) ** 2
    freqs = np.fft.rfftfreq(nfft, 1 / sample_rate)
    band = power[:, (freqs >= 80) & (freqs <= 4000)].sum(axis=1) / (power.sum(axis=1) + 1e-30)
    square = np.square(frames).mean(axis=1)
    late = np.flatnonzero(np.arange(first, stop) * hop > samples - 1)
    if late.size:  # frames centred past the end are measured at the last sample
        c = samples - 1
        tail = read(c - hop, c + hop)
        square[late] = np.square(tail).mean()
    return band, 10 * np.log10(square + 1e-12) + 3.0


def frame_count(samples: int, sample_rate: int) -> int:
    """10 ms frames of a signal (scipy's padded STFT framing); 0 when under 40 ms."""
    hop = round(HOP_S * sample_rate)
    return 0 if samples < 4 * hop else -(-samples // hop) + 1


def decide_frames(
    band: np.ndarray,
    level_db: np.ndarray,
    *,
    margin_db: float = 6.0,
    floor_dbfs: float = -60.0,
    modulation_db: float = 6.0,
) -> np.ndarray:
    """Speech decision per frame from `frame_features` over the whole signal."""
    if not level_db.size:
        return np.zeros(0, bool)
    floor = max(float(np.percentile(level_db, 10)), -120.0)
    loud = (level_db > floor + margin_db) & (level_db > floor_dbfs)
    voiced = band > 0.6
    # syllable-rate modulation of the level envelope, over 1 s around each frame
    env = np.clip(level_db, floor, None)
    sos = butter(2, [2.0, 8.0], btype="bandpass", fs=1 / HOP_S, output="sos")
    swing = np.sqrt(uniform_filter1d(sosfiltfilt(sos, env) ** 2, size=round(1 / HOP_S)))
    rhythmic = 2 * np.sqrt(2) * swing > modulation_db  # peak-to-peak of the 2-8 Hz swing
    return np.asarray(loud & voiced & rhythmic)


def speech_frames(
    audio: np.ndarray,
    sample_rate: int,
    *,
    margin_db: float = 6.0,
    floor_dbfs: float = -60.0,
    modulation_db: float = 6.0,
) -> np.ndarray:
    """Frame-wise speech decision (10 ms frames) before smoothing.

    Parameters
    ----------
    audio : np.ndarray, shape (channels, samples) or (samples,)

    Returns
    -------
    np.ndarray, shape (frames,), bool
    """
    mono = np.asarray(audio, np.float64)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    count = frame_count(mono.size, sample_rate)
    if not count:
        return np.zeros(0, bool)
    band, level_db = frame_features(
        lambda lo, hi: _padded(mono, lo, hi), mono.size, sample_rate, 0, count
    )
    return decide_frames(
        band, level_db, margin_db=margin_db, floor_dbfs=floor_dbfs, modulation_db=modulation_db
    )


def _padded(mono: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``mono[lo:hi]`` with zeros outside the array."""
    out = np.zeros(hi - lo)
    a, b = max(lo, 0), min(hi, mono.size)
    if a < b:
        out[a - lo : b - lo] = mono[a:b]
    return out


def speech_regions_streamed(
    read: Callable[[int, int], np.ndarray],
    samples: int,
    sample_rate: int,
    *,
    margin_db: float = 6.0,
    bridge_s: float = 0.4,
    min_speech_s: float = 0.3,
    block_frames: int = 3000,
) -> list[tuple[int, int]]:
    """`speech_regions` of a signal read in blocks through `read(lo, hi)` (shape
    (channels, hi - lo), silence outside): the frame figures are made `block_frames` at a
    time (30 s), only they are kept (16 bytes a frame), and the decision is the same."""
    count = frame_count(samples, sample_rate)

    def mono(lo: int, hi: int) -> np.ndarray:
        return np.asarray(read(lo, hi), np.float64).mean(axis=0)

    parts = [
        frame_features(mono, samples, sample_rate, k, min(count, k + block_frames))
        for k in range(0, count, block_frames)
    ]
    if not parts:
        return []
    band, level_db = (np.concatenate(p) for p in zip(*parts, strict=True))
    frames = decide_frames(band, level_db, margin_db=margin_db)
    hop = round(HOP_S * sample_rate)
    runs = smooth_speech(frames, bridge_s=bridge_s, min_speech_s=min_speech_s)
    return [(a * hop, min(samples, b * hop)) for a, b in runs]


def speech_regions(
    audio: np.ndarray,
    sample_rate: int,
    *,
    margin_db: float = 6.0,
    bridge_s: float = 0.4,
    min_speech_s: float = 0.3,
) -> list[tuple[int, int]]:
    """Dialogue regions of `audio` as ``[start, end)`` sample ranges, in order.

    Parameters
    ----------
    audio : np.ndarray, shape (channels, samples) or (samples,)
    margin_db : float
        How far above the noise floor speech must be.
    bridge_s : float
        Pauses shorter than this stay inside one region.
    min_speech_s : float
        Shorter bursts are not speech.
    """
    frames = speech_frames(audio, sample_rate, margin_db=margin_db)
    n = np.asarray(audio).shape[-1]
    hop = round(HOP_S * sample_rate)
    runs = smooth_speech(frames, bridge_s=bridge_s, min_speech_s=min_speech_s)
    return [(a * hop, min(n, b * hop)) for a, b in runs]


def smooth_speech(
    frames: np.ndarray, *, bridge_s: float = 0.4, min_speech_s: float = 0.3
) -> list[tuple[int, int]]:
    """Frame decisions (`speech_frames`) to regions, ``[start, end)`` in 10 ms frames:
    pauses shorter than `bridge_s` bridged, bursts shorter than `min_speech_s` dropped."""
    if not frames.any():
        return []
    bridge = max(1, round(bridge_s / HOP_S))
    shortest = max(1, round(min_speech_s / HOP_S))
    mask = binary_closing(np.pad(frames, bridge), structure=np.ones(bridge))[bridge:-bridge]
    return mask_runs(binary_opening(mask, structure=np.ones(shortest)))


def override_regions(
    regions: list[tuple[int, int]],
    *,
    total_samples: int,
    forced: Sequence[tuple[int, int]] = (),
    excluded: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Detected regions, with spans the user marked as dialogue added and others removed.

    A scene's ``dialogue`` column (yes/no) overrides detection over its span: where music
    or effects in the original audio read as speech, or speech is too quiet to be found.
    """
    if not forced and not excluded:
        return regions
    mask = np.zeros(total_samples, bool)
    for a, b in regions:
        mask[a:b] = True
    for a, b in forced:
        mask[a:b] = True
    for a, b in excluded:
        mask[a:b] = False
    return mask_runs(mask)


def dialogue_track(
    video: Path, *, sample_rate: int, samples: int, margin_db: float = 6.0
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A video's own audio, exactly `samples` long, and its dialogue regions.

    Returns
    -------
    (audio, regions)
        audio: shape (2, samples), float32; regions: ``[start, end)`` samples.
    """
    audio = read_audio(video, sample_rate=sample_rate)[:, :samples]
    if audio.shape[-1] < samples:
        audio = np.pad(audio, ((0, 0), (0, samples - audio.shape[-1])))
    return audio, speech_regions(audio, sample_rate, margin_db=margin_db)
