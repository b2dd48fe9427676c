"""The run's manifest, built from typed records: what went in (inputs, settings, revision),
what was made (scenes with their briefs, cues and takes), and what it measured (loudness,
dialogue, QC, quality).

`build_manifest` returns the JSON-ready dict that `deliver.write_manifest` completes with
the version, the time and the outputs' hashes; `add_qc_verdict` adds QC's verdict to it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from scoreflow.tasks.audio.spool import SpooledCue
from scoreflow.tasks.delivery import report
from scoreflow.tasks.interchange.fcp import CueClip
from scoreflow.tasks.picture.reading import Reading
from scoreflow.tasks.quality import measures as quality
from scoreflow.tasks.timeline.model import Brief, MediaInfo, Scene


@dataclass(frozen=True)
class Source:
    """One input file as the user gave it (a path or ``s3://`` URI)."""

    path: str
    etag: str | None
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "etag": self.etag, "sha256": self.sha256}


@dataclass(frozen=True)
class ManifestInputs:
    """The video (with what its probe found) and the shot list (None: scenes read from the
    picture)."""

    video: Source
    probe: MediaInfo
    shots: Source | None = None

    def to_dict(self) -> dict[str, Any]:
        info = self.probe
        probe = {**info.__dict__, "rate": str(info.rate), "path": self.video.path}
        return {
            "video": {**self.video.to_dict(), "probe": probe},
            "shots": None if self.shots is None else self.shots.to_dict(),
        }


@dataclass(frozen=True)
class PictureEntry:
    """What the picture reading found, and what it suggested for the shot list's scenes."""

    reading: Reading
    video: str  # the video as the user gave it, not the fetched copy
    suggested: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        return {**self.reading.to_dict(), "video": self.video, "suggested": self.suggested}


@dataclass(frozen=True)
class TakeEntry:
    """One take of a scene's cue: its seed, its quality report and files, and whether it is
    the one used."""

    number: int  # 1-based
    seed: int
    cached: bool
    report: dict[str, Any]  # `quality.cue_report`
    chosen: bool
    files: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        measured = self.report["quality"]
        return {
            "take": self.number,
            "seed": self.seed,
            "cached": self.cached,
            "overall": measured["overall"],
            "scores": measured["scores"],
            "failures": measured["failures"],
            "chosen": self.chosen,
            "files": self.files,
        }


@dataclass(frozen=True)
class CueEntry:
    """A scene's cue as delivered: its brief, files, quality, the crossfade into it (as the
    NLE files have it) and, with takes, every take."""

    cue: SpooledCue
    brief: Brief
    clip: CueClip
    cached: bool
    files: dict[str, str]
    quality: dict[str, Any]
    takes: list[TakeEntry] | None = None  # None: the run made one take

    def to_dict(self, scene: Scene) -> dict[str, Any]:
        entry = {
            **self.cue.metadata(),
            "cached": self.cached,
            "files": self.files,
            "crossfade_in_s": round(float(self.clip.crossfade_frames / scene.rate), 4),
            "quality": self.quality,
        }
        if self.takes is not None:
            entry["takes"] = [t.to_dict() for t in self.takes]
        return entry


@dataclass(frozen=True)
class SceneEntry:
    """A scene as the manifest records it, with its brief and cue where it has music."""

    scene: Scene
    sample_rate: int
    cue: CueEntry | None = None

    def to_dict(self) -> dict[str, Any]:
        s = self.scene
        entry: dict[str, Any] = {
            "id": s.id,
            "origin": s.origin,
            "description": s.description,
            "tc_in": s.tc_in,
            "tc_out": s.tc_out,
            "start_frame": s.start_frame,
            "end_frame": s.end_frame,
            "rate": str(s.rate),
            "music": s.music,
            "transition": s.transition,
            "transition_s": s.transition_s,
            "samples": list(s.sample_span(self.sample_rate)),
        }
        if self.cue is not None:
            entry["brief"] = self.cue.brief.to_dict()
            entry["cue"] = self.cue.to_dict(s)
        return entry


@dataclass(frozen=True)
class RevisionEntry:
    """The run's revision state: its number, notes and picks per scene, and the history."""

    number: int = 0
    notes: dict[str, list[str]] = field(default_factory=dict)
    picks: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "notes": self.notes,
            "picks": self.picks,
            "history": self.history,
        }


@dataclass(frozen=True)
class Loudness:
    """The preset the programme was brought to and what the mix measured (before, after,
    gate)."""

    preset: dict[str, Any]  # `config.preset`: name, target_lufs, true_peak_dbtp
    measured: dict[str, Any]  # `blocks.StreamedProgramme.report`

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset["name"],
            "target_lufs": self.preset["target_lufs"],
            "true_peak_ceiling_dbtp": self.preset["true_peak_dbtp"],
            **self.measured,
        }


@dataclass(frozen=True)
class ManifestRecord:
    """Everything a run's manifest says, typed; `build_manifest` writes it out."""

    run_id: str
    location: str
    inputs: ManifestInputs
    picture: PictureEntry | None
    settings: dict[str, Any]
    scenes: list[SceneEntry]
    loudness: Loudness
    dialogue_s: list[tuple[float, float]]
    qc: dict[str, Any]
    workers: dict[str, int]  # takes made by each process (host/pid)
    qualities: dict[str, dict[str, Any]]  # `quality.programme_quality`, by scene id
    revision: RevisionEntry
    mux_command: list[str]
    mux_audio: str  # the file muxed into the scored video


def build_manifest(record: ManifestRecord) -> dict[str, Any]:
    """The manifest of `record`, JSON-ready (keys in the order the manifest has them)."""
    scenes = [e.scene for e in record.scenes]
    scored = [s for s in scenes if s.music]
    return {
        "run_id": record.run_id,
        "location": record.location,
        "inputs": record.inputs.to_dict(),
        "picture": None if record.picture is None else record.picture.to_dict(),
        "settings": record.settings,
        "programme": programme_entry(scenes, record.inputs.probe),
        "loudness": record.loudness.to_dict(),
        "dialogue": {"regions_s": [[round(a, 3), round(b, 3)] for a, b in record.dialogue_s]},
        "qc": record.qc,
        "workers": record.workers,
        "quality": {
            **quality.summary(record.qualities),
            "boundaries": quality.boundaries(record.qualities, touching(scored)),
        },
        "revision": record.revision.to_dict(),
        "mux": {"command": record.mux_command, "audio": record.mux_audio},
        "scenes": [e.to_dict() for e in record.scenes],
    }


def programme_entry(scenes: list[Scene], info: MediaInfo) -> dict[str, Any]:
    """The programme's rate, length and start (its timecode from the first scene's)."""
    first = scenes[0] if scenes else None
    return {
        "rate": str(info.rate),
        "frames": info.frames,
        "start_frame": first.tc_start if first else 0,
        "start_tc": first.timecode(0) if first else "00:00:00:00",
        "drop_frame": first.drop_frame if first else False,
    }


def touching(scored: list[Scene]) -> list[tuple[str, str]]:
    """The music scenes that run into the next (no gap, no fade between them)."""
    return [
        (a.id, b.id)
        for a, b in itertools.pairwise(scored)
        if a.end_frame == b.start_frame and b.transition != "fade"
    ]


def add_qc_verdict(manifest: dict[str, Any]) -> list[str]:
    """Add QC's verdict (``passed``, ``failures``) to `manifest`; the failures, one line
    each (empty: it passed)."""
    failures = report.qc_failures(manifest)
    manifest["qc"].update(passed=not failures, failures=failures)
    return failures


def quality_line(qualities: dict[str, dict[str, Any]]) -> str:
    """The programme's quality in one line: mean and lowest score, failed measures."""
    summary = quality.summary(qualities)
    if summary["mean_overall"] is None:
        return "no cues"
    low = summary["lowest"]
    return (
        f"mean score {summary['mean_overall']:.2f}, lowest {low['overall']:.2f} (scene "
        f"{low['scene']}), {len(summary['failures'])} failed measure(s)"
    )
