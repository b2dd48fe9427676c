"""Beat tracking: librosa's dynamic-programming tracker (Ellis 2007, `librosa.beat.beat_track`
of librosa 0.11, static tempo, one channel), ported so that numba loads it from its cache.

Importing `librosa.beat` compiles one of its numba kernels afresh in every process (it is
declared ``cache=False``) and loads five more: 1.2 s measured, in every process that
measures a cue, an eighth of a one-cue revision. This port keeps librosa's onset strength
and tempo estimate and its arithmetic, dtype for dtype, and gives the same beats
(tests/test_beats.py compares them frame for frame with librosa's own).
"""

from __future__ import annotations

import librosa
import numpy as np
from numba import njit


def beat_track(
    *,
    y: np.ndarray | None = None,
    sr: float,
    onset_envelope: np.ndarray | None = None,
    hop_length: int = 512,
    start_bpm: float = 120.0,
    tightness: float = 100.0,
    units: str = "frames",
) -> tuple[np.ndarray | float, np.ndarray]:
    """``librosa.beat.beat_track(y=y, sr=sr, ...)``: (tempo, beats) of mono `y`, or of
    an onset strength envelope computed already.

    Parameters
    ----------
    y : np.ndarray, shape (samples,), or None with `onset_envelope`
    onset_envelope : np.ndarray, shape (frames,), or None
        Computed from `y` when None (librosa's onset strength, median across bands).
    units : str
        ``"frames"`` or ``"time"`` (seconds) for the beats.

    Returns
    -------
    (tempo, beats)
        The tempo estimate (bpm, shape (1,); 0.0 when `y` has no onsets) and the beats,
        shape (beats,).
    """
    if units not in ("frames", "time"):
        raise ValueError(f"units must be 'frames' or 'time', not {units!r}")
    onsets = onset_envelope
    if onsets is None:
        if y is None:
            raise ValueError("y or onset_envelope must be given")
        onsets = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop_length,
                                              aggregate=np.median)  # fmt: skip
    if not onsets.any():
        return 0.0, np.array([], dtype=int)
    bpm = librosa.feature.tempo(
        onset_envelope=onsets, sr=sr, hop_length=hop_length, start_bpm=start_bpm
    )
    frames = np.flatnonzero(_track(onsets, bpm, float(sr) / hop_length, tightness))
    if units == "time":
        return bpm, librosa.frames_to_time(frames, sr=sr, hop_length=hop_length)
    return bpm, frames


def _track(onsets: np.ndarray, bpm: np.ndarray, frame_rate: float, tightness: float) -> np.ndarray:
    """Beat indicator per frame (librosa's ``__beat_tracker``). Its kernels run in float64:
    frames per beat is a float64 array, so numpy picks their float64 loops."""
    frames_per_beat = float(np.round(frame_rate * 60.0 / np.atleast_1d(bpm))[0])
    normalized = onsets / (onsets.std(ddof=1, axis=-1, keepdims=True) + librosa.util.tiny(onsets))
    localscore = _local_score(normalized.astype(np.float64), frames_per_beat)
    backlink, cumscore = _dp(localscore, frames_per_beat, np.float32(tightness))
    beats = np.zeros(onsets.shape, dtype=bool)
    n = _last_beat(cumscore)
    while n >= 0:
        beats[n] = True
        n = backlink[n]
    return _trim(localscore, beats)


@njit(cache=True, nogil=True)
def _local_score(onsets, frames_per_beat):  # type: ignore[no-untyped-def]
    """Same-mode convolution with a Gaussian a beat wide, accumulated as librosa does."""
    window = np.exp(
        -0.5 * (np.arange(-frames_per_beat, frames_per_beat + 1) * 32.0 / frames_per_beat) ** 2
    )
    n, k_len = len(onsets), len(window)
    out = np.zeros(n)
    for i in range(n):
        for k in range(max(0, i + k_len // 2 - n + 1), min(i + k_len // 2, k_len)):
            out[i] += window[k] * onsets[i + k_len // 2 - k]
    return out


@njit(cache=True, nogil=True)
def _dp(localscore, frames_per_beat, tightness):  # type: ignore[no-untyped-def]
    """The dynamic programme: each frame's best predecessor half a beat to two beats back."""
    n = len(localscore)
    backlink = np.empty(n, np.int32)
    cumscore = np.empty(n)
    score_thresh = 0.01 * localscore.max()
    first_beat = True
    start_back = int(np.round(frames_per_beat / 2))
    stop_back = int(2 * frames_per_beat + 1)
    log_period = np.log(frames_per_beat)
    for i in range(n):
        score_i = localscore[i]
        best_score = -np.inf
        beat_location = -1
        for loc in range(i - start_back, i - stop_back, -1):
            if loc < 0:
                break
            score = cumscore[loc] - tightness * (np.log(i - loc) - log_period) ** 2
            if score > best_score:
                best_score = score
                beat_location = loc
        cumscore[i] = score_i + best_score if beat_location >= 0 else score_i
        if first_beat and score_i < score_thresh:
            backlink[i] = -1
        else:
            backlink[i] = beat_location
            first_beat = False
    return backlink, cumscore


def _last_beat(cumscore: np.ndarray) -> int:
    """The last local maximum of the cumulative score at or over half their median."""
    peaks = librosa.util.localmax(cumscore)
    median = np.ma.median(np.ma.masked_array(data=cumscore, mask=~peaks))
    threshold = 0.5 * np.ma.getdata(median)
    good = np.flatnonzero(peaks & (cumscore >= threshold))
    return int(good[-1]) if good.size else len(cumscore) - 1


def _trim(localscore: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Leading and trailing frames weaker than half the beats' smoothed RMS lose their
    beats."""
    w = np.hanning(5)
    smooth = np.convolve(localscore[beats], w)[len(w) // 2 : len(localscore) + len(w) // 2]
    threshold = 0.5 * ((smooth**2).mean() ** 0.5)
    trimmed = beats.copy()
    strong = np.flatnonzero(localscore > threshold)
    first, last = (int(strong[0]), int(strong[-1])) if strong.size else (len(beats), -1)
    trimmed[:first] = False
    trimmed[last + 1 :] = False
    return trimmed
