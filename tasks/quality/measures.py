"""Quality measures of a cue and of a programme, from the rendered audio (and the MIDI
where there is one), independent of how the cue was made.

Five groups, each scored 0..1, and one overall score (their weighted mean, weights and
thresholds from the config's ``[quality]`` table):

- **adherence**: measured tempo and key against the brief, the energy curve (RMS over the
  cue) against the brief's curve, the brief's instruments present in the MIDI;
- **coherence**: structure from a self-similarity matrix of bar-synchronous chroma
  (contrast between bars, and material that returns), pitch-class entropy, the share of
  out-of-key notes and of strong beats with a semitone clash, and the share of bars that
  are exact copies of an earlier one (MIDI);
- **sync**: each hit point's distance to the nearest strong onset, the last strong onset
  before the cut;
- **originality**: the cue's likeness to the other cues of the programme and to a
  reference catalogue (`originality`: beat-synchronous chroma and melodic n-grams);
- **technical**: clicks (sample-level discontinuities), clipping, true peak, DC offset,
  silence where music is expected.

A figure that cannot be measured (no MIDI for an audio-only backend, no hit points) is
``None`` and says so in ``unmeasured``; it does not count towards its group's score.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pretty_midi

from scoreflow.config.settings import QualitySettings
from scoreflow.tasks.audio import analysis
from scoreflow.tasks.audio.mix import true_peak_dbtp
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.music import theory
from scoreflow.tasks.music.theory import (
    DARK_MODES,
    NAMES,
    SCALES,
    pitch_class,
    scale_pcs,
)
from scoreflow.tasks.quality import originality
from scoreflow.tasks.timeline.model import Brief

ANALYSIS_SR = 22050
GROUPS = ("adherence", "coherence", "sync", "originality", "technical")
CLIP_LEVEL = 0.999  # a sample this close to full scale is clipped ...
CLIP_RUN = 3  # ... when this many in a row are
SILENCE_DB = -60.0  # a 100 ms window under this is silent


def measure_cue(
    audio: np.ndarray,
    sample_rate: int,
    *,
    brief: Brief,
    midi: bytes | None,
    bpm: float | None,
    settings: QualitySettings,
    chroma: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every per-cue measure of (channels, samples) `audio`, its group scores and the
    overall score (originality is added by `programme_originality`, across cues).
    `chroma` is the cue's `originality.audio_features`, where already computed."""
    if chroma is None:
        chroma = originality.audio_features(audio, sample_rate)
    mono = librosa.resample(
        np.asarray(audio, np.float32).mean(axis=0), orig_sr=sample_rate, target_sr=ANALYSIS_SR
    )
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi)) if midi else None
    figures = {
        "adherence": adherence(mono, ANALYSIS_SR, brief=brief, pm=pm),
        "coherence": coherence(chroma, brief=brief, pm=pm, bpm=bpm),
        "sync": sync(audio, sample_rate, hits_s=list(brief.hits_s)),
        "technical": technical(audio, sample_rate, settings=settings),
    }
    return score(figures, settings)


# -- adherence ---------------------------------------------------------------------------------
def adherence(
    mono: np.ndarray, sample_rate: int, *, brief: Brief, pm: pretty_midi.PrettyMIDI | None
) -> dict[str, Any]:
    """Tempo (% outside the brief's tempo range, octave errors folded), key (`key_match`),
    energy curve against the brief's, the brief's instruments found."""
    bpm = analysis.folded_tempo(mono, sample_rate, plan_bpm=brief.tempo_bpm)
    lo, hi = brief.tempo_range  # the brief allows these; its own tempo is their centre
    nearest = min(max(bpm, min(lo, brief.tempo_bpm)), max(hi, brief.tempo_bpm))
    tonic, mode = analysis.estimate_key(mono, sample_rate, hop_length=2048)
    curve = energy_db(mono, sample_rate)
    return {
        "tempo_bpm": round(bpm, 2),
        "tempo_error_pct": round(100 * abs(bpm - nearest) / nearest, 2),
        "key": f"{NAMES[tonic]} {mode}",
        "key_match": key_match((tonic, mode), brief),
        "curve": brief.curve,
        "curve_match": round(curve_match(curve, brief.curve), 3),
        "energy_db": [round(v, 1) for v in curve],
        "intensity": brief.intensity,
        "onsets_per_s": round(analysis.onset_rate(mono, sample_rate), 2),
        "instruments_found": instruments_found(pm, brief),
    }


def key_match(found: tuple[int, str], brief: Brief) -> str:
    """``same`` key as the brief's, its ``relative``, ``related`` (their scales share six
    of seven notes: the neighbours on the circle of fifths and their relatives), or
    ``other``."""
    wanted = (pitch_class(brief.key), "minor" if brief.mode in DARK_MODES else "major")
    return theory.key_relation(wanted, found)


KEY_SCORES = {"same": 1.0, "relative": 0.7, "related": 0.4}


def energy_db(mono: np.ndarray, sample_rate: int, *, points: int = 8) -> list[float]:
    """RMS level (dB) of `points` equal parts of the cue."""
    n = mono.shape[-1] // points
    if not n:
        return []
    rms = np.sqrt(np.mean(np.square(mono[: n * points].reshape(points, n), dtype=np.float64), 1))
    return [20 * math.log10(max(float(r), 1e-9)) for r in rms]


CURVES = {
    "rises": lambda t: t,
    "falls": lambda t: 1 - t,
    "swells": lambda t: np.sin(np.pi * t),
}


def curve_match(levels_db: list[float], curve: str) -> float:
    """0..1: how the measured energy follows the brief's curve. A shaped curve: the
    correlation of the levels with its shape, mapped from -1..1; ``steady``: 1 less the
    levels' spread over 6 dB."""
    if len(levels_db) < 3:
        return 1.0
    levels = np.asarray(levels_db)
    if curve not in CURVES:
        return float(np.clip(1 - np.std(levels) / 6.0, 0.0, 1.0))
    shape = CURVES[curve](np.linspace(0, 1, len(levels)))
    if np.std(levels) < 1e-6:
        return 0.5
    return float((np.corrcoef(levels, shape)[0, 1] + 1) / 2)


def instruments_found(pm: pretty_midi.PrettyMIDI | None, brief: Brief) -> float | None:
    """Share of the brief's instruments that play notes in the MIDI (by instrument name);
    None without MIDI (audio-only cues are left unmeasured)."""
    if pm is None or not brief.instruments:
        return None
    playing = {i.name for i in pm.instruments if i.notes}
    return round(sum(name in playing for name in brief.instruments) / len(brief.instruments), 3)


# -- coherence ---------------------------------------------------------------------------------
def coherence(
    chroma: np.ndarray,
    *,
    brief: Brief,
    pm: pretty_midi.PrettyMIDI | None,
    bpm: float | None,
) -> dict[str, Any]:
    """Structure (audio), and from the MIDI: pitch-class entropy, out-of-key share,
    semitone clashes on strong beats, exact bar copies."""
    out: dict[str, Any] = structure(chroma)
    notes = _pitched(pm) if pm is not None else []
    beat_s = 60.0 / (bpm or brief.tempo_bpm)
    out |= {
        "pc_entropy": pc_entropy(notes) if notes else None,
        "out_of_key": out_of_key(notes, brief) if notes else None,
        "clashes": clashes(notes, beat_s=beat_s) if notes else None,
        "repeated_bars": repeated_bars(notes, bar_s=4 * beat_s) if notes else None,
    }
    return out


def structure(chroma: np.ndarray) -> dict[str, Any]:
    """From beat-synchronous chroma (`originality.audio_features`, shape (12, beats)):
    contrast (1 less the mean cosine similarity of beat-chroma 4-beat blocks to each
    other) and return (the mean, over blocks after the first two, of the best similarity
    to an earlier block at least two back): a cue that is one block has no contrast;
    noise has contrast and nothing returns."""
    k = chroma.shape[1] // 4
    if k < 4:
        return {"contrast": None, "returns": None}
    blocks = chroma[:, : 4 * k].reshape(12, k, 4).mean(axis=2)
    blocks /= np.maximum(np.linalg.norm(blocks, axis=0, keepdims=True), 1e-9)
    sim = blocks.T @ blocks
    off = sim[~np.eye(k, dtype=bool)]
    back = [float(sim[i, : i - 1].max()) for i in range(2, k)]
    return {"contrast": round(1 - float(off.mean()), 3), "returns": round(float(np.mean(back)), 3)}


def _pitched(pm: pretty_midi.PrettyMIDI) -> list[pretty_midi.Note]:
    return [n for i in pm.instruments if not i.is_drum for n in i.notes]


def pc_entropy(notes: list[pretty_midi.Note]) -> float:
    """Entropy of the duration-weighted pitch-class histogram, over log2(12): 1 for all
    twelve equally, about 0.8-0.9 for tonal music."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.end - n.start
    p = hist[hist > 0] / hist.sum()
    return round(float(-(p * np.log2(p)).sum() / math.log2(12)), 3)


def out_of_key(notes: list[pretty_midi.Note], brief: Brief) -> float:
    """Duration-weighted share of notes outside the brief's scale."""
    scale = scale_pcs(pitch_class(brief.key), brief.mode if brief.mode in SCALES else "major")
    total = sum(n.end - n.start for n in notes)
    outside = sum(n.end - n.start for n in notes if n.pitch % 12 not in scale)
    return round(float(outside / total), 3) if total else 0.0


def clashes(notes: list[pretty_midi.Note], *, beat_s: float) -> float:
    """Share of strong beats (1 and 3 of each bar) at which two sounding notes are a
    semitone apart."""
    end = max(n.end for n in notes)
    beats = np.arange(0.0, end, 2 * beat_s)
    if not len(beats):
        return 0.0
    hit = 0
    for t in beats:
        pitches = sorted({n.pitch for n in notes if n.start <= t + 0.02 < n.end})
        hit += any(b - a == 1 for a, b in itertools.pairwise(pitches))
    return round(hit / len(beats), 3)


def repeated_bars(notes: list[pretty_midi.Note], *, bar_s: float) -> float:
    """Share of bars whose pitched notes (pitch, onset in the bar to 1/48 of a bar,
    length) are an exact copy of an earlier bar's; empty bars are not counted."""
    bars: dict[int, set[tuple[int, int, int]]] = {}
    for n in notes:
        k = int((n.start + 1e-6) // bar_s)
        q = 48 / bar_s
        bars.setdefault(k, set()).add(
            (n.pitch, round((n.start - k * bar_s) * q), round((n.end - n.start) * q))
        )
    seen: list[frozenset[tuple[int, int, int]]] = []
    copies = 0
    for k in sorted(bars):
        content = frozenset(bars[k])
        copies += content in seen
        seen.append(content)
    return round(copies / len(seen), 3) if seen else 0.0


# -- sync --------------------------------------------------------------------------------------
def sync(audio: np.ndarray, sample_rate: int, *, hits_s: list[float]) -> dict[str, Any]:
    """Each hit point's distance (ms) to the strongest onset within 250 ms of it (an
    onset standing at least 3x over the envelope's median), None where there is none;
    and where the last strong onset lies before the cut (s)."""
    env = analysis.onset_envelope(audio, sample_rate)
    floor = max(float(np.median(env)), 1e-9)
    strong = np.flatnonzero(env > 3 * floor)
    times = strong * analysis.ONSET_HOP / sample_rate - analysis.ONSET_PAD_S
    duration = audio.shape[-1] / sample_rate
    distances: list[float | None] = []
    for t in hits_s:
        near = times[np.abs(times - t) <= 0.25]
        distances.append(round(1000 * float(np.abs(near - t).min()), 1) if near.size else None)
    return {
        "hits_s": list(hits_s),
        "hit_distance_ms": distances,
        "last_onset_before_cut_s": round(duration - float(times.max()), 3) if times.size else None,
    }


# -- technical ---------------------------------------------------------------------------------
def technical(audio: np.ndarray, sample_rate: int, *, settings: QualitySettings) -> dict[str, Any]:
    """Clicks, clipped runs, true peak, DC offset and the longest silence inside the cue
    (its last `tail_s` excepted: a cue may ring out)."""
    x = np.asarray(audio, np.float64)
    body = x[:, : max(0, x.shape[-1] - round(settings.tail_s * sample_rate))]
    return {
        "clicks_s": [round(s / sample_rate, 4) for s in clicks(x, sample_rate)],
        "clipped_runs": clipped_runs(x),
        "true_peak_dbtp": round(true_peak_dbtp(x), 2),
        "dc_db": round(20 * math.log10(max(float(np.abs(x.mean(axis=1)).max()), 1e-12)), 1),
        "longest_silence_s": longest_silence_s(body, sample_rate),
    }


def clicks(audio: np.ndarray, sample_rate: int, *, ratio: float = 12.0) -> list[int]:
    """Samples where the signal jumps: the second difference (what a straight line from
    the two samples before does not predict) over `ratio` times its local level (the
    RMS of the second difference within 10 ms either side) and above -40 dBFS.

    Attacks of real instruments rise over several samples, so their second difference
    stays near its local level; a discontinuity puts one sample far above it.
    """
    d2 = np.abs(np.diff(audio, n=2, axis=-1)).max(axis=0)
    w = max(3, round(0.01 * sample_rate))
    power = np.convolve(d2**2, np.ones(2 * w + 1) / (2 * w + 1), mode="same")
    local = np.sqrt(np.maximum(power - d2**2 / (2 * w + 1), 1e-20))
    found = np.flatnonzero((d2 > ratio * local) & (d2 > 0.01)) + 1
    keep: list[int] = []
    for s in found.tolist():  # one click, however many of its samples stand out
        if not keep or s - keep[-1] > w:
            keep.append(s)
    return keep


def clipped_runs(audio: np.ndarray) -> int:
    """Runs of `CLIP_RUN` or more samples at full scale, any channel."""
    runs = 0
    for ch in np.abs(audio) >= CLIP_LEVEL:
        edges = np.diff(np.concatenate([[0], ch.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs += int(((ends - starts) >= CLIP_RUN).sum())
    return runs


def longest_silence_s(audio: np.ndarray, sample_rate: int) -> float:
    """The longest run of 100 ms windows under `SILENCE_DB` (s)."""
    w = round(0.1 * sample_rate)
    k = audio.shape[-1] // w
    if not k:
        return 0.0
    rms = np.sqrt(np.mean(np.square(audio[:, : k * w]).reshape(audio.shape[0], k, w), axis=(0, 2)))
    quiet = np.concatenate([[0], (20 * np.log10(np.maximum(rms, 1e-12)) < SILENCE_DB), [0]])
    edges = np.diff(quiet.astype(np.int8))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return round(float(runs.max(initial=0)) * w / sample_rate, 2)


# -- originality -------------------------------------------------------------------------------
def programme_originality(
    features: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Per cue: the most alike other cue of the programme and, with a `reference`
    (catalogue track id -> `originality.features`), the most alike reference track."""
    out: dict[str, dict[str, Any]] = {}
    for sid, feats in features.items():
        others = {k: v for k, v in features.items() if k != sid}
        near, figures = originality.nearest(feats, others)
        entry: dict[str, Any] = {"nearest_cue": near, "likeness": figures["overall"]}
        if reference:
            ref, ref_figures = originality.nearest(feats, reference)
            entry |= {"nearest_reference": ref, "reference_likeness": ref_figures["overall"]}
        out[sid] = entry
    return out


# -- scores ------------------------------------------------------------------------------------
def score(figures: dict[str, dict[str, Any]], settings: QualitySettings) -> dict[str, Any]:
    """Each group's 0..1 score from its figures and the config's thresholds, the overall
    weighted mean, the figures not measured and the failed thresholds."""
    parts: dict[str, list[float]] = {g: [] for g in GROUPS}
    failures: list[str] = []
    unmeasured = [
        f"{group}.{name}"
        for group, values in figures.items()
        for name, value in values.items()
        if value is None
    ]
    for group, fn in _SCORERS.items():
        if group in figures:
            parts[group], failed = fn(figures[group], settings)
            failures += failed
    scores = {g: round(float(np.mean(v)), 3) for g, v in parts.items() if v}
    weights: dict[str, float] = settings.weights.model_dump()
    total = sum(weights[g] for g in scores)
    overall = sum(weights[g] * s for g, s in scores.items()) / total if total else 0.0
    return {
        **figures,
        "scores": scores,
        "overall": round(overall, 3),
        "unmeasured": unmeasured,
        "failures": failures,
    }


def _adherence_score(f: dict[str, Any], t: QualitySettings) -> tuple[list[float], list[str]]:
    tempo = max(0.0, 1 - f["tempo_error_pct"] / (2 * t.tempo_tolerance_pct))
    out = [tempo, KEY_SCORES.get(f["key_match"], 0.0), f["curve_match"]]
    if f["instruments_found"] is not None:
        out.append(f["instruments_found"])
    failed = []
    if f["tempo_error_pct"] > t.tempo_tolerance_pct:
        failed.append(f"tempo {f['tempo_bpm']} bpm is {f['tempo_error_pct']}% off the brief")
    if f["key_match"] == "other":
        failed.append(f"key measured {f['key']}: not the brief's")
    return out, failed


def _coherence_score(f: dict[str, Any], t: QualitySettings) -> tuple[list[float], list[str]]:
    out, failed = [], []
    if f["contrast"] is not None:
        out.append(min(1.0, f["contrast"] / 0.1) * f["returns"])
    if f["pc_entropy"] is not None:
        out.append(float(np.clip((1.0 - f["pc_entropy"]) / 0.15, 0.0, 1.0)))
        out.append(max(0.0, 1 - f["out_of_key"] / t.out_of_key_max))
        out.append(max(0.0, 1 - f["clashes"] / t.clashes_max))
        out.append(max(0.0, 1 - max(0.0, f["repeated_bars"] - 0.5) / 0.5))
        if f["out_of_key"] > t.out_of_key_max:
            failed.append(f"{f['out_of_key']:.0%} of the notes are out of key")
        if f["clashes"] > t.clashes_max:
            failed.append(f"semitone clashes on {f['clashes']:.0%} of strong beats")
    return out, failed


def _sync_score(f: dict[str, Any], t: QualitySettings) -> tuple[list[float], list[str]]:
    out, failed = [], []
    for at, ms in zip(f["hits_s"], f["hit_distance_ms"], strict=True):
        out.append(0.0 if ms is None else max(0.0, 1 - ms / (2 * t.hit_tolerance_ms)))
        if ms is None or ms > t.hit_tolerance_ms:
            failed.append(f"hit at {at:.2f} s: no strong onset within {t.hit_tolerance_ms} ms")
    return out, failed


def _technical_score(f: dict[str, Any], t: QualitySettings) -> tuple[list[float], list[str]]:
    checks = {
        f"{len(f['clicks_s'])} click(s) at {f['clicks_s'][:5]} s": not f["clicks_s"],
        f"{f['clipped_runs']} clipped run(s)": not f["clipped_runs"],
        f"true peak {f['true_peak_dbtp']} dBTP": f["true_peak_dbtp"] <= t.true_peak_dbtp_max,
        f"DC offset {f['dc_db']} dBFS": f["dc_db"] <= t.dc_db_max,
        f"{f['longest_silence_s']} s of silence": f["longest_silence_s"] <= t.silence_s_max,
    }
    return [float(ok) for ok in checks.values()], [what for what, ok in checks.items() if not ok]


def _originality_score(f: dict[str, Any], t: QualitySettings) -> tuple[list[float], list[str]]:
    out, failed = [], []
    for key, near in (("likeness", "nearest_cue"), ("reference_likeness", "nearest_reference")):
        if f.get(key) is not None and f.get(near) is not None:
            over = max(0.0, f[key] - t.likeness_max)
            out.append(max(0.0, 1 - over / max(1e-9, 1 - t.likeness_max)))
            if over > 0:
                failed.append(f"{f[key]:.2f} alike {f[near]} (over {t.likeness_max})")
    return out, failed


_SCORERS = {
    "adherence": _adherence_score,
    "coherence": _coherence_score,
    "sync": _sync_score,
    "technical": _technical_score,
    "originality": _originality_score,
}


def with_originality(
    quality: dict[str, Any], figures: dict[str, Any], settings: QualitySettings
) -> dict[str, Any]:
    """A cue's `measure_cue` result with its programme originality figures added and the
    scores recomputed."""
    groups = {g: quality[g] for g in GROUPS if g in quality and g != "originality"}
    return score({**groups, "originality": figures}, settings)


# -- a programme -------------------------------------------------------------------------------
def cue_report(
    audio: np.ndarray,
    sample_rate: int,
    *,
    brief: Brief,
    midi: bytes | None,
    bpm: float | None,
    settings: QualitySettings,
    melody: str = "",
) -> dict[str, Any]:
    """What is measured of one cue on its own: ``quality`` (`measure_cue` of its `brief`,
    `midi`, `bpm` against the [quality] `settings`), the ``features`` it is compared with
    the others by (`originality.features`), and its ``motif`` n-grams (`motif_ngrams`;
    `melody` names the part with the tune). (Its parameters repeat `measure_cue`'s on
    purpose: typed keywords, not ``**cue``.)"""
    chroma = originality.audio_features(audio, sample_rate)  # once, for both
    features = originality.features(audio, sample_rate, midi=midi, melody=melody, chroma=chroma)
    quality = measure_cue(
        audio, sample_rate, brief=brief, midi=midi, bpm=bpm, settings=settings, chroma=chroma
    )
    return {
        "quality": quality,
        "features": features,
        "theme": brief.theme,
        "motif": motif_ngrams(midi, melody=melody) if midi else None,
    }


def motif_ngrams(midi: bytes, *, melody: str = "") -> dict[str, list[tuple[int, ...]]]:
    """Interval 4-grams of each pitched part of a MIDI file with at least
    `MOTIF_MIN_GRAMS` of them: its notes in order (the top note of a chord), each interval
    as its diatonic size (semitones x 7/12, rounded: a major and a minor third are both a
    third), so a motif restated in another key or mode gives the same n-grams. With
    `melody` (the part carrying the tune, by name), that part alone where it plays:
    accompaniment figures (arpeggios, bass walks) are shared by unrelated cues."""
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    parts: dict[str, list[tuple[int, ...]]] = {}
    tune = [i for i in pm.instruments if i.name == melody and i.notes]
    for k, inst in enumerate(pm.instruments):
        if inst.is_drum or (tune and inst not in tune):
            continue
        tops: dict[float, int] = {}
        for n in inst.notes:
            at = round(n.start, 3)
            tops[at] = max(tops.get(at, 0), n.pitch)
        semis = np.diff([tops[t] for t in sorted(tops)])
        steps = (np.sign(semis) * np.round(np.abs(semis) * 7 / 12)).astype(int).tolist()
        grams = {tuple(steps[i : i + 4]) for i in range(len(steps) - 3)}
        if len(grams) >= MOTIF_MIN_GRAMS:
            parts[f"{k}:{inst.name}"] = sorted(grams)
    return parts


MOTIF_MIN_GRAMS = 8


def motif_overlap(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> float:
    """How much of a motif two cues share: the largest, over pairs of their parts, of
    the shared interval 4-grams over the smaller part's (0 when either has none)."""
    best = 0.0
    for ga in a.values():
        sa = {tuple(g) for g in ga}
        for gb in b.values():
            sb = {tuple(g) for g in gb}
            best = max(best, len(sa & sb) / min(len(sa), len(sb)))
    return best


def motif_recurrence(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per cue: its `motif_overlap` with the other cues of the programme (the largest, and
    with which), and with those of its own theme; None without MIDI."""
    parts = {k: r["motif"] for k, r in reports.items() if r.get("motif")}
    out: dict[str, dict[str, Any]] = {}
    for sid, r in reports.items():
        entry: dict[str, Any] = {"theme": r.get("theme", ""), "recurrence": None, "with": None}
        others = (
            {k: motif_overlap(parts[sid], p) for k, p in parts.items() if k != sid}
            if sid in parts
            else {}
        )
        if others:
            best = max(others, key=lambda k: others[k])
            entry |= {"recurrence": round(others[best], 3), "with": best}
            same = [others[k] for k in others if reports[k].get("theme") == entry["theme"]]
            entry["within_theme"] = round(max(same), 3) if same and entry["theme"] else None
        out[sid] = entry
    return out


def programme_quality(
    reports: dict[str, dict[str, Any]],
    settings: QualitySettings,
    *,
    reference: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every cue's quality with its originality against the programme's other cues (and
    the `reference` tracks), scored again; keyed by scene id."""
    found = programme_originality({k: r["features"] for k, r in reports.items()}, reference)
    motifs = motif_recurrence(reports)
    return {
        k: {**with_originality(r["quality"], found[k], settings), "motif": motifs[k]}
        for k, r in reports.items()
    }


def load_reference(folder: str) -> dict[str, dict[str, Any]]:
    """The originality features of every track of a library catalogue folder (what
    `scoreflow library` wrote: catalog.json and each track's features.json); none for
    ""."""
    if not folder:
        return {}
    root = Path(folder)
    index = root / "catalog.json"
    if not index.is_file():
        raise InputError(
            "not a library catalogue folder (no catalog.json)",
            field="quality.reference",
            value=folder,
            fix='Give a folder `scoreflow library` wrote, or "" for none',
        )
    tracks = json.loads(index.read_text())["tracks"]
    return {
        t["id"]: json.loads((root / t["features"]).read_text())
        for t in tracks
        if t.get("features") and (root / t["features"]).is_file()
    }


def boundaries(
    qualities: dict[str, dict[str, Any]], pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """At each boundary where one cue runs into the next (`pairs` of scene ids): the keys
    and tempi measured either side, how the keys relate (`key_relation`) and the tempo
    ratio folded to the nearest of 1:2, 1:1, 2:1 (1.0: one pulse)."""
    out = []
    for a, b in pairs:
        qa, qb = qualities[a]["adherence"], qualities[b]["adherence"]
        ratio = qb["tempo_bpm"] / qa["tempo_bpm"]
        folded = min((ratio * f for f in (0.5, 1.0, 2.0)), key=lambda r: abs(r - 1))
        out.append(
            {
                "from": a,
                "to": b,
                "keys": f"{qa['key']} -> {qb['key']}",
                "relation": key_relation(qa["key"], qb["key"]),
                "tempo_ratio": round(folded, 3),
            }
        )
    return out


def key_relation(a: str, b: str) -> str:
    """`theory.key_relation` of two key names ("C major", "A minor")."""
    (ta, ma), (tb, mb) = (k.split(" ") for k in (a, b))
    return theory.key_relation((pitch_class(ta), ma), (pitch_class(tb), mb))


def intensity_vs_onsets(qualities: dict[str, dict[str, Any]]) -> float | None:
    """Across the cues, the rank correlation (Spearman) of the briefs' intensity with the
    measured onset density: near 1 when the busier music is where the briefs ask for
    more; None with fewer than three cues or one intensity throughout."""
    from scipy.stats import spearmanr

    pairs = [
        (q["adherence"]["intensity"], q["adherence"]["onsets_per_s"])
        for q in qualities.values()
        if "intensity" in q.get("adherence", {})
    ]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return None
    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return round(float(rho), 3)


def summary(qualities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The programme's figures: mean and lowest overall score, and every failure by scene."""
    if not qualities:
        return {"mean_overall": None, "lowest": None, "intensity_vs_onsets": None, "failures": []}
    lowest = min(qualities, key=lambda k: qualities[k]["overall"])
    return {
        "mean_overall": round(float(np.mean([q["overall"] for q in qualities.values()])), 3),
        "lowest": {"scene": lowest, "overall": qualities[lowest]["overall"]},
        "intensity_vs_onsets": intensity_vs_onsets(qualities),
        "failures": [f"scene {k}: {f}" for k, q in qualities.items() for f in q["failures"]],
    }
