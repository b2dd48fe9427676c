"""Fit every cue to its scene's exact sample length.

Strategy, in order:

1. exact: the cue already has the scene's length (the composer composes to length);
2. stretch: a bar line found by librosa's beat tracker lies within ``max_stretch`` of the
   scene end: the cue up to that bar line is time-stretched so it lands on the cut;
3. trim: cut at the scene end with a fade-out of ``fade_out_s``;
4. pad: a cue shorter than its scene is followed by silence.

Every fitted cue starts with a ``declick_s`` fade-in, so no boundary clicks.
"""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np

from scoreflow.tasks.audio.beats import beat_track
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Cue


def fade(n: int, *, fade_in: bool) -> np.ndarray:
    """Equal-power (sine) fade curve of `n` samples, float32."""
    ramp = np.sin(0.5 * np.pi * (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1))
    return (ramp if fade_in else ramp[::-1]).astype(np.float32)


def bar_lines(
    audio: np.ndarray,
    sample_rate: int,
    *,
    bpm: float | None,
    beats_per_bar: int,
    salience: float = 2.0,
) -> np.ndarray:
    """Sample positions of bar lines, by beat tracking on the mono mix.

    Beats are snapped to the attack of the nearest detected onset (within a quarter beat),
    and the bar phase is the one whose beats carry the most power below 150 Hz (kick and
    bass mark downbeats). Material with
    no salient beat (onset strength at the beats under `salience` times the median) has no
    bar lines.

    Returns
    -------
    np.ndarray, shape (bars,), int
    """
    mono = librosa.to_mono(audio)
    hop = 512
    env = librosa.onset.onset_strength(y=mono, sr=sample_rate, hop_length=hop)
    tempo, beats = beat_track(
        onset_envelope=env, sr=sample_rate, hop_length=hop, start_bpm=bpm or 120.0, units="frames"
    )
    if len(beats) < beats_per_bar or env[beats].mean() < salience * np.median(env):
        return np.zeros(0, dtype=np.int64)
    # Downbeats carry the kick and the bass: linear power below 150 Hz around each beat.
    spec = np.abs(librosa.stft(mono, n_fft=2048, hop_length=hop)) ** 2
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=2048)
    low = spec[freqs < 150.0].sum(axis=0)
    at_beat = np.array([low[max(0, b - 2) : b + 3].max() for b in beats])
    phase = max(range(beats_per_bar), key=lambda p: float(at_beat[p::beats_per_bar].mean()))
    onsets = librosa.onset.onset_detect(
        onset_envelope=env, sr=sample_rate, hop_length=hop, backtrack=True, units="frames"
    )
    if len(onsets):
        reach = 60.0 / float(np.atleast_1d(tempo)[0]) / 4 * sample_rate / hop
        near = onsets[np.abs(onsets[None, :] - beats[:, None]).argmin(axis=1)]
        beats = np.where(np.abs(near - beats) <= reach, near, beats)
    frames = beats[phase::beats_per_bar]
    return np.asarray(librosa.frames_to_samples(frames, hop_length=hop), dtype=np.int64)


def fit_cue(
    cue: Cue,
    target_samples: int,
    *,
    max_stretch: float = 0.05,
    fade_out_s: float = 0.35,
    declick_s: float = 0.005,
) -> Cue:
    """Return the cue with exactly `target_samples` samples; the method goes into metrics.

    Parameters
    ----------
    cue : Cue
        Audio of shape (channels, samples).
    target_samples : int
        The scene's length in samples.
    """
    if target_samples <= 0:
        raise InputError("scene length must be positive", scene=cue.scene_id, value=target_samples)
    sr, audio, tail = cue.sample_rate, cue.audio, cue.tail
    m = audio.shape[-1]
    info: dict[str, object] = {"source_samples": m}
    if m == target_samples:
        out, method = audio.copy(), "exact"
    else:
        bars = bar_lines(audio, sr, bpm=cue.bpm, beats_per_bar=cue.beats_per_bar)
        candidates = [int(b) for b in bars if b > 0] + [m]
        best = min(candidates, key=lambda b: abs(target_samples / b - 1))
        ratio = target_samples / best
        if abs(ratio - 1) <= max_stretch:
            stretched = librosa.effects.time_stretch(audio[:, :best], rate=best / target_samples)
            out = librosa.util.fix_length(stretched, size=target_samples, axis=-1)
            rest = np.concatenate([audio[:, best:], tail], axis=-1)
            tail, method = rest, "stretch"
            info.update(bar_line_sample=best, stretch_ratio=round(ratio, 5))
        elif m > target_samples:
            out = audio[:, :target_samples].copy()
            n = min(round(fade_out_s * sr), target_samples)
            out[:, target_samples - n :] *= fade(n, fade_in=False)
            tail, method = np.zeros((audio.shape[0], 0), np.float32), "trim"
        else:
            out = np.zeros((audio.shape[0], target_samples), np.float32)
            out[:, :m] = audio
            n = min(round(declick_s * sr), m)
            out[:, m - n : m] *= fade(n, fade_in=False)
            tail, method = np.zeros((audio.shape[0], 0), np.float32), "pad"
    n = min(round(declick_s * sr), target_samples)
    out = out.astype(np.float32, copy=False)
    out[:, :n] *= fade(n, fade_in=True)
    metrics = {**cue.metrics, "align": method, **info}
    return dataclasses.replace(cue, audio=out, tail=tail.astype(np.float32), metrics=metrics)


def ring_out(cue: Cue, *, ring_s: float = 1.5, fade_s: float = 0.05) -> np.ndarray:
    """The cue as its own file (``cues/<scene>.wav``): the scene's length, then up to
    `ring_s` of the cue's tail (its last notes ringing past the cut: the handle an editor's
    crossfade or a longer out point needs), faded to silence so the file never ends on a
    click. A cue without that much tail fades over its last `fade_s` instead.

    Both fades are a sine fade to the fourth power: the last 5 ms sit more than 60 dB under
    the level the fade started from.

    Returns
    -------
    np.ndarray, shape (channels, samples + ring), float32
    """
    sr = cue.sample_rate
    ring = cue.tail[:, : round(ring_s * sr)]
    if ring.shape[-1] >= round(fade_s * sr) and ring.shape[-1] > 0:
        out = np.concatenate([cue.audio, ring], axis=-1).astype(np.float32)
        n = ring.shape[-1]
    else:
        out = cue.audio.astype(np.float32, copy=True)
        n = min(round(fade_s * sr), out.shape[-1])
    if n:
        out[:, out.shape[-1] - n :] *= fade(n, fade_in=False) ** 4
    return out
