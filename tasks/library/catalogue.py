"""One library track, made and delivered: every version rendered, levelled, written with
its metadata, measured by independent meters, and described by catalogue rows.

`build_track` is the plain function behind the library flow's track task. Files land in
the track's folder (``tracks/<id>/``), each atomically; the rows it returns are what the
catalogue lists of them (their hashes come from the files as written).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np

from scoreflow.tasks.audio import analysis
from scoreflow.tasks.audio.media import measure_loudness
from scoreflow.tasks.audio.mix import integrated_lufs, normalize_gain
from scoreflow.tasks.cloud.storage import sha256_file, write_bytes
from scoreflow.tasks.delivery.deliver import write_wav
from scoreflow.tasks.engines.composer.versions import (
    TAPER_S,
    Arrangement,
    TrackArranger,
    energy_index,
)
from scoreflow.tasks.library import tagging
from scoreflow.tasks.library.plan import ALTERNATES, Delivery, TrackSpec
from scoreflow.tasks.music.theory import NAMES, pitch_class
from scoreflow.tasks.quality import originality

ANALYSIS_SR = 22050  # tempo and key are measured on a mono copy at this rate
TEMPO_TOLERANCE = 0.02  # a measured tempo further than this from the plan is flagged
MP3_MARGIN_DB = 0.1


@dataclass
class Leveled:
    """A version's mix and stems at the delivery loudness."""

    mix: np.ndarray
    stems: dict[str, np.ndarray]
    report: dict[str, float]


def level(stems: dict[str, np.ndarray], d: Delivery, sample_rate: int, *, loop: bool) -> Leveled:
    """Bring the sum of `stems` to the delivery loudness and true-peak ceiling with one
    gain curve applied to every stem too (so they still sum to the mix). A loop's gain is
    found on three repeats and the middle kept, so the limiter has no edge at the seam."""
    mix = np.asarray(sum(stems.values()))  # one stem at a time, not a stack of them
    probe = np.tile(mix, (1, 3)) if loop else mix
    gain, report = normalize_gain(
        probe, sample_rate, target_lufs=d.target_lufs, true_peak_dbtp_max=d.true_peak_dbtp
    )
    if loop:
        n = mix.shape[-1]
        gain = gain[n : 2 * n]
    return Leveled(mix * gain, {k: v * gain for k, v in stems.items()}, report)


def track_tag(
    spec: TrackSpec,
    d: Delivery,
    *,
    title: str,
    version: str,
    bpm: float,
    key: str,
    instruments: list[str],
) -> bytes:
    """The ID3v2.4 tag of one MP3."""
    b = spec.brief
    frames = {
        "TIT2": f"{title} ({version})" if version != "main" else title,
        "TPE1": d.artist or "scoreflow",
        "TALB": d.name,
        "TCON": b.genre,
        "TBPM": f"{round(bpm)}",
        "TKEY": _id3_key(key),
        "TMOO": b.mood,
    }
    comment = (
        f"mood: {b.mood}; keywords: {', '.join(spec.keywords)}; "
        f"instruments: {', '.join(instruments)}; track: {spec.id}; version: {version}"
    )
    return tagging.id3v2_tag(frames, comment=comment)


def _id3_key(key: str) -> str:
    """ID3's TKEY form: "Am", "F#", "Bb" (at most three characters)."""
    tonic, _, mode = key.partition(" ")
    return tonic + ("m" if mode == "minor" else "")


def key_name(tonic: int, mode: str) -> str:
    dark = mode in ("minor", "aeolian", "dorian", "phrygian")
    return f"{NAMES[tonic % 12]} {'minor' if dark else 'major'}"


def measured_tags(
    audio: np.ndarray, sample_rate: int, *, plan_bpm: float, plan_key: str
) -> dict[str, Any]:
    """BPM and key estimated from the audio (librosa), against the plan; a tempo off by
    more than 2 % (octave errors folded) or another key than the plan's (its relative
    counts as a near miss) is flagged."""
    mono = librosa.resample(
        np.asarray(audio, np.float32).mean(axis=0), orig_sr=sample_rate, target_sr=ANALYSIS_SR
    )
    bpm = analysis.folded_tempo(mono, ANALYSIS_SR, plan_bpm=plan_bpm)
    tonic, mode = analysis.estimate_key(mono, ANALYSIS_SR, hop_length=2048)
    key = key_name(tonic, mode)
    flags = []
    if abs(bpm - plan_bpm) > TEMPO_TOLERANCE * plan_bpm:
        flags.append(f"tempo measured {bpm:.1f} bpm, planned {plan_bpm:.1f}")
    if key != plan_key:
        flags.append(f"key measured {key}, planned {plan_key}")
    return {"bpm": round(bpm, 2), "key": key, "flags": flags}


def energy_curve(audio: np.ndarray, sample_rate: int, *, points: int = 10) -> list[float]:
    """RMS level (dBFS) over `points` equal parts of the version."""
    n = audio.shape[-1] // points
    if not n:
        return []
    parts = audio[:, : n * points].reshape(audio.shape[0], points, n)
    rms = np.sqrt(np.mean(np.square(parts, dtype=np.float64), axis=(0, 2)))
    return [round(float(20 * math.log10(max(r, 1e-9))), 1) for r in rms]


@dataclass
class AudioVersion:
    """A version of a backend that gives audio only (no arrangement behind it)."""

    name: str
    kind: str
    samples: int
    midi: bytes = b""
    button_s: float | None = None
    loop_bars: int = 0


class TrackBuilder:
    """Renders, writes and measures every version of one track into `folder` (the
    embedded composer: every version, stems and MIDI)."""

    def __init__(
        self,
        composer: Any,
        spec: TrackSpec,
        d: Delivery,
        folder: Path,
        *,
        seed: int,
        title: str,
        versions: list[str],
    ) -> None:
        self.composer, self.spec, self.d, self.folder = composer, spec, d, folder
        self.sr = composer.sample_rate
        self.seed, self.title, self.versions = seed, title, versions
        self.rows: list[dict[str, Any]] = []
        self.plan_key = ""
        self.instruments: list[str] = []
        self.bpm = self.prepare()

    def prepare(self) -> float:
        """Set up what the versions share; the planned tempo."""
        self.arranger = TrackArranger(self.composer, self.spec.brief, seed=self.seed)
        return self.arranger.bpm

    def build(self) -> dict[str, Any]:
        """Every version; returns the track's record (rows, features, versions made)."""
        main = self.arranger.main(self.spec.main_s)
        self.plan_key = key_name(main.plan.tonic, main.plan.mode)
        self.instruments = [i.name for i in main.pm.instruments]
        stems = self.arranger.stems(main)
        leveled = level(stems, self.d, self.sr, loop=False)
        self.write_version(main, leveled, stems=self.d.stems)
        features = originality.features(
            leveled.mix, self.sr, midi=main.midi, melody=self.arranger.melody
        )
        for name in self.d.alternates:
            parts = {k: v for k, v in stems.items() if k in ALTERNATES[name]}
            if parts:
                alt = Arrangement(name, "alternate", main.plan, main.pm, main.samples, main.midi)
                self.write_version(alt, level(parts, self.d, self.sr, loop=False), stems=False)
        energy = energy_index(leveled.mix, self.sr)  # to choose the loops' bars by
        del stems, leveled
        cuts = [(f"{c:g}s", c, "cutdown") for c in self.d.cutdowns_s]
        cuts += [("sting", self.d.sting_s, "sting")] if self.d.sting_s else []
        for name, seconds, kind in cuts:
            arr = self.arranger.cutdown(name, seconds, kind=kind)
            self.write_version(
                arr, level(self.arranger.stems(arr), self.d, self.sr, loop=False), stems=False
            )
        for bars in self.d.loops_bars:
            arr = self.arranger.loop(main, bars, energy=energy)
            self.write_version(
                arr, level(self.arranger.stems(arr), self.d, self.sr, loop=True), stems=self.d.stems
            )
        return {
            "rows": self.rows,
            "features": features,
            "bpm": round(self.arranger.bpm, 4),
            "key": self.plan_key,
            "instruments": self.instruments,
        }

    def write_version(self, arr: Arrangement | AudioVersion, lv: Leveled, *, stems: bool) -> None:
        base = f"{self.spec.id}_{arr.name}"
        measured = measured_tags(lv.mix, self.sr, plan_bpm=self.bpm, plan_key=self.plan_key)
        info = {
            "version": arr.name,
            "kind": arr.kind,
            "samples": arr.samples,
            "duration_s": round(arr.samples / self.sr, 6),
            "bpm_plan": round(self.bpm, 3),
            "key_plan": self.plan_key,
            "bpm": measured["bpm"],
            "key": measured["key"],
            "tag_flags": "; ".join(measured["flags"]),
            "energy": energy_curve(lv.mix, self.sr),
            "button_s": round(arr.button_s, 4) if arr.button_s is not None else "",
            "loop_bars": arr.loop_bars or "",
        }
        if arr.kind != "alternate" and arr.midi:
            midi = self.folder / f"{base}.mid"
            write_bytes(midi, arr.midi)
            self.rows.append(self.row(info, midi, "midi"))
        wav = self.folder / f"{base}.wav"
        self.write_wav(wav, lv.mix, info, lv.report)
        loud = measure_loudness(wav)  # the independent meter, recorded in the bext chunk too
        tagging.set_bext_loudness(wav, loud)
        if "wav" in self.d.formats:
            self.rows.append(self.row(info, wav, "wav", loud=loud))
        if "mp3" in self.d.formats:
            mp3 = self.folder / f"{base}.mp3"
            self.rows.append(
                self.row(info, mp3, "mp3", loud=self.write_mp3(wav, mp3, arr.name, measured))
            )
        if "wav" not in self.d.formats:
            wav.unlink()
        if stems:
            for name, audio in lv.stems.items():
                path = self.folder / "stems" / f"{base}_{name}.wav"
                write_wav(path, audio, self.sr)
                self.rows.append(self.row({**info, "stem": name}, path, "stem"))

    def write_wav(
        self, path: Path, audio: np.ndarray, info: dict[str, Any], report: dict[str, float]
    ) -> None:
        b = self.spec.brief
        loud = {
            "integrated_lufs": integrated_lufs(audio, self.sr),
            "true_peak_dbtp": report.get("after_true_peak_dbtp", math.nan),
        }
        bext = tagging.bext_chunk(
            description=f"{self.title} ({info['version']}): {b.genre}, {b.mood}, "
            f"{info['bpm_plan']:g} bpm, {self.plan_key}. {b.prompt}"[:256],
            originator="scoreflow",
            reference=f"{self.spec.id}-{info['version']}",
            loudness=loud,
        )
        ixml = tagging.ixml_chunk(
            {
                "project": self.d.name,
                "track": self.spec.id,
                "version": info["version"],
                "note": self.title,
                "title": self.title,
                "bpm": info["bpm_plan"],
                "key": self.plan_key,
                "genre": b.genre,
                "mood": b.mood,
                "keywords": ", ".join(self.spec.keywords),
                "instruments": ", ".join(self.instruments),
            }
        )
        tagging.write_bwf(path, audio, self.sr, bext=bext, ixml=ixml)

    def write_mp3(
        self, wav: Path, mp3: Path, version: str, measured: dict[str, Any]
    ) -> dict[str, Any]:
        """Encode, measure, and encode again a little lower if the encoded true peak went
        over the ceiling (lossy coding adds overshoots)."""
        tag = track_tag(
            self.spec,
            self.d,
            title=self.title,
            version=version,
            bpm=measured["bpm"],
            key=measured["key"],
            instruments=self.instruments,
        )
        gain = 0.0
        for _ in range(3):
            tagging.encode_mp3(wav, mp3, kbps=self.d.mp3_kbps, tag=tag, gain_db=gain)
            loud = measure_loudness(mp3)
            over = loud["true_peak_dbtp"] - self.d.true_peak_dbtp
            if over <= 0:
                break
            gain -= over + MP3_MARGIN_DB
        return loud

    def row(
        self, info: dict[str, Any], path: Path, kind: str, *, loud: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        b = self.spec.brief
        loud = loud or {}
        return {
            "track_id": self.spec.id,
            "title": self.title,
            **info,
            "format": kind,
            "stem": info.get("stem", ""),
            "genre": b.genre,
            "mood": b.mood,
            "instruments": ", ".join(self.instruments),
            "keywords": ", ".join(self.spec.keywords),
            "loudness_lufs": loud.get("integrated_lufs", ""),
            "true_peak_dbtp": loud.get("true_peak_dbtp", ""),
            "file": path.relative_to(self.folder.parent.parent).as_posix(),
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "seed": self.seed,
            "description": b.prompt,
        }


class AudioTrackBuilder(TrackBuilder):
    """A track from a backend that renders one mixed signal (the neural ones): the main
    version, generated at its length and levelled, written and measured like the
    composer's; the versions it cannot make are reported with the reason, not faked."""

    def prepare(self) -> float:
        self.plan_key = key_name(pitch_class(self.spec.brief.key), self.spec.brief.mode)
        return float(self.spec.brief.tempo_bpm)

    def build(self) -> dict[str, Any]:
        samples = round(self.spec.main_s * self.sr)
        cue = self.composer.generate([self.spec.brief], seconds=[self.spec.main_s], seed=self.seed)
        audio = np.zeros((2, samples), np.float32)
        body = np.asarray(cue[0].audio, np.float32)[:, :samples]
        audio[: body.shape[0], : body.shape[1]] = body  # mono is spread to both channels
        if body.shape[0] == 1:
            audio[1] = audio[0]
        n = min(round(TAPER_S * self.sr), samples)  # the same ring-out taper as the composer's
        audio[:, samples - n :] *= np.cos(0.5 * np.pi * (np.arange(n) + 1) / n) ** 2
        leveled = level({"mix": audio}, self.d, self.sr, loop=False)
        self.write_version(AudioVersion("main", "main", samples), leveled, stems=False)
        return {
            "rows": self.rows,
            "features": originality.features(leveled.mix, self.sr, midi=None, melody=""),
            "bpm": round(self.bpm, 4),
            "key": self.plan_key,
            "instruments": self.instruments,
            "unavailable": self.unavailable(),
        }

    def unavailable(self) -> str:
        """What this backend cannot make of the delivery, and why."""
        who = self.composer.name
        made = [v for v in self.versions if v != "main"]
        why = {
            "cutdown": "a button ending on a chosen downbeat needs the arrangement",
            "loop": "a bar-exact loop needs each part's ring to fold into its head",
            "alternate": "an alternate mix needs stems",
        }
        out = [f"{v} ({why[_kind(v)]}, which {who} does not give)" for v in made]
        if self.d.stems:
            out.append(f"stems ({who} renders one mixed signal)")
        out.append("MIDI and instruments (audio only)")
        return "; ".join(out)


def _kind(version: str) -> str:
    if version.startswith("loop-"):
        return "loop"
    return "alternate" if version in ALTERNATES else "cutdown"


def make_builder(backend: Any, spec: TrackSpec, d: Delivery, folder: Path, **kw: Any) -> Any:
    """The builder for `backend`: every version from the composer's arrangement, the main
    version only from a backend that gives audio alone."""
    cls = TrackBuilder if getattr(backend, "name", "") == "composer" else AudioTrackBuilder
    return cls(backend, spec, d, folder, **kw)


def write_features(path: Path, features: dict[str, Any]) -> None:
    write_bytes(path, json.dumps(features, separators=(",", ":")).encode())
