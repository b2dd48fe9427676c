"""How alike two tracks are: beat-synchronous chroma of the audio, and melodic n-grams of
the MIDI.

- **Audio**: chroma (librosa, on a 11.025 kHz mono mix) averaged per tracked beat, in
  shingles of 8 beats; a track's likeness to another is the mean, over its shingles, of
  the best cosine match among the other's, at the best of the 12 transpositions. Identical
  audio scores 1; different music in one key and genre stays well below.
- **MIDI**: the melody's pitch intervals (transposition-invariant) in 4-grams; the overlap
  is the Jaccard index of the two sets.

The likeness of two tracks is the larger of the two. chromaprint (`fpcalc`) was weighed:
it identifies one recording among others (the same master, re-encoded), not two
compositions that sound alike, which is what a library must avoid; so these measures are
built from librosa's chroma and beat tracker instead.
"""

from __future__ import annotations

import io
from typing import Any

import librosa
import numpy as np
import pretty_midi

from scoreflow.tasks.audio.beats import beat_track

SHINGLE = 8  # beats per chroma shingle
NGRAM = 4  # intervals per melodic n-gram
ANALYSIS_SR = 11025


def audio_features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Beat-synchronous chroma of (channels, samples) audio.

    Returns
    -------
    np.ndarray, shape (12, beats), float32, each column unit length
    """
    mono = librosa.resample(
        np.asarray(audio, np.float32).mean(axis=0), orig_sr=sample_rate, target_sr=ANALYSIS_SR
    )
    hop = 512
    chroma = librosa.feature.chroma_stft(y=mono, sr=ANALYSIS_SR, hop_length=hop, n_fft=2048)
    _, beats = beat_track(y=mono, sr=ANALYSIS_SR, hop_length=hop)
    synced = (
        librosa.util.sync(chroma, beats.tolist(), aggregate=np.mean) if len(beats) > 1 else chroma
    )
    norm = np.linalg.norm(synced, axis=0, keepdims=True)
    return (synced / np.maximum(norm, 1e-9)).astype(np.float32)


def _shingles(chroma: np.ndarray) -> np.ndarray:
    n = chroma.shape[1] - SHINGLE + 1
    if n < 1:
        return chroma.T[None, :, :].reshape(1, -1) / max(1.0, np.sqrt(chroma.shape[1]))
    stacked = np.stack([chroma[:, i : i + SHINGLE].T.reshape(-1) for i in range(n)])
    return stacked / np.maximum(np.linalg.norm(stacked, axis=1, keepdims=True), 1e-9)


def audio_likeness(a: np.ndarray, b: np.ndarray) -> float:
    """0..1: how much of `a`'s harmony and rhythm of harmony `b` also has (`audio_features`
    of both), at the best transposition."""
    sa = _shingles(a)
    best = 0.0
    for shift in range(12):
        sb = _shingles(np.roll(b, shift, axis=0))
        if sb.shape[1] != sa.shape[1]:
            return 0.0
        best = max(best, float((sa @ sb.T).max(axis=1).mean()))
    return best


def melody_ngrams(midi: bytes, *, melody: str) -> set[tuple[int, ...]]:
    """The interval 4-grams of the instrument named `melody` (else the busiest pitched
    one) in a Standard MIDI File."""
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    pitched = [i for i in pm.instruments if not i.is_drum and i.notes]
    if not pitched:
        return set()
    inst = next((i for i in pitched if i.name == melody), max(pitched, key=lambda i: len(i.notes)))
    pitches = [n.pitch for n in sorted(inst.notes, key=lambda n: (n.start, -n.pitch))]
    steps = np.diff(pitches).tolist()
    return {tuple(steps[i : i + NGRAM]) for i in range(len(steps) - NGRAM + 1)}


def ngram_overlap(a: set[tuple[int, ...]], b: set[tuple[int, ...]]) -> float:
    """Jaccard index of two n-gram sets (0 when either is empty)."""
    return len(a & b) / len(a | b) if a and b else 0.0


def features(
    audio: np.ndarray,
    sample_rate: int,
    *,
    midi: bytes | None,
    melody: str,
    chroma: np.ndarray | None = None,
) -> dict[str, Any]:
    """What a track is compared by, in a JSON-ready form (`chroma`: its
    `audio_features`, where already computed)."""
    if chroma is None:
        chroma = audio_features(audio, sample_rate)
    return {
        "chroma": np.round(chroma, 4).tolist(),
        "ngrams": sorted(melody_ngrams(midi, melody=melody)) if midi else [],
    }


def likeness(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """``audio``, ``melody`` and overall (their larger) likeness of two `features`."""
    audio = audio_likeness(np.asarray(a["chroma"], np.float32), np.asarray(b["chroma"], np.float32))
    melody = ngram_overlap({tuple(g) for g in a["ngrams"]}, {tuple(g) for g in b["ngrams"]})
    return {
        "audio": round(audio, 4),
        "melody": round(melody, 4),
        "overall": round(max(audio, melody), 4),
    }


def nearest(
    new: dict[str, Any], catalogue: dict[str, dict[str, Any]]
) -> tuple[str | None, dict[str, float]]:
    """The catalogue track most like `new`, and the figures (None and zeros when empty)."""
    best: tuple[str | None, dict[str, float]] = (
        None,
        {"audio": 0.0, "melody": 0.0, "overall": 0.0},
    )
    for track_id, feats in catalogue.items():
        got = likeness(new, feats)
        if got["overall"] > best[1]["overall"]:
            best = (track_id, got)
    return best
