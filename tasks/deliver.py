"""Write the deliverables: soundtrack, cue stems and MIDI, cue sheet, report, manifest.

Each file appears atomically; the manifest is written last, so a folder with a manifest is
a complete result.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from tasks import __version__
from tasks.model import Brief, Cue, Scene
from tasks.storage import atomic_path, sha256_file, write_bytes
from tasks.timecode import format_timecode

CUESHEET_FIELDS = (
    "cue",
    "scene",
    "title",
    "usage",
    "tc_in",
    "tc_out",
    "duration",
    "composer",
    "publisher",
    "backend",
    "model",
    "licence",
    "seed",
    "bpm",
    "key",
)


def safe_name(scene_id: str) -> str:
    """A file name for a scene id: ``"12 / b"`` -> ``"12_b"``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", scene_id).strip("._") or "scene"


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, *, subtype: str = "PCM_24") -> None:
    """Write (channels, samples) float audio as WAV, atomically."""
    with atomic_path(path) as tmp:
        soundfile.write(
            tmp, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format="WAV"
        )


def write_cues(out: Path, cues: list[Cue], *, subtype: str) -> dict[str, dict[str, str]]:
    """cues/<scene>.wav and .mid for every cue; returns scene id -> relative file paths."""
    files: dict[str, dict[str, str]] = {}
    used: set[str] = set()
    for cue in cues:
        stem = safe_name(cue.scene_id)
        while stem in used:
            stem += "_"
        used.add(stem)
        entry = {"wav": f"cues/{stem}.wav"}
        write_wav(out / entry["wav"], cue.audio, cue.sample_rate, subtype=subtype)
        if cue.midi:
            entry["mid"] = f"cues/{stem}.mid"
            write_bytes(out / entry["mid"], cue.midi)
        files[cue.scene_id] = entry
    return files


def cuesheet_rows(
    scenes: list[Scene], cues: dict[str, Cue], briefs: dict[str, Brief]
) -> list[dict[str, Any]]:
    rows = []
    for number, scene in enumerate((s for s in scenes if s.id in cues), start=1):
        cue, brief = cues[scene.id], briefs[scene.id]
        rows.append(
            {
                "cue": f"{number:02d}",
                "scene": scene.id,
                "title": f"{brief.genre.title()} {brief.mood} cue ({scene.id})",
                "usage": "BI",  # background instrumental
                "tc_in": scene.tc_in,
                "tc_out": scene.tc_out,
                "duration": format_timecode(scene.frames, scene.rate, drop_frame=False),
                "composer": "",
                "publisher": "",
                "backend": cue.backend,
                "model": cue.model,
                "licence": cue.licence,
                "seed": cue.seed,
                "bpm": cue.bpm,
                "key": cue.key,
            }
        )
    return rows


def write_cuesheet(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CUESHEET_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_bytes(path, buf.getvalue().encode())


def write_report(path: Path, manifest: dict[str, Any]) -> None:
    """A self-contained HTML page: scenes, cues and the measured loudness."""
    e = html.escape
    loud = manifest["loudness"]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(v))}</td>"
            for v in (
                s["id"],
                s["tc_in"],
                s["tc_out"],
                "on" if s["music"] else "off",
                s.get("brief", {}).get("genre", ""),
                s.get("brief", {}).get("mood", ""),
                s.get("cue", {}).get("bpm", ""),
                s.get("cue", {}).get("key", ""),
                s.get("cue", {}).get("metrics", {}).get("align", ""),
                s.get("description", ""),
            )
        )
        + "</tr>"
        for s in manifest["scenes"]
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>scoreflow report</title>
<style>body{{font:14px system-ui;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style>
<h1>scoreflow report: {e(Path(manifest["inputs"]["video"]["path"]).name)}</h1>
<p>Backend {e(manifest["settings"]["pipeline"]["backend"])}, preset {e(loud["preset"])}
(target {loud["target_lufs"]} LUFS, ceiling {loud["true_peak_ceiling_dbtp"]} dBTP).</p>
<p>Soundtrack loudness: {loud["before_lufs"]:.1f} LUFS before, {loud["after_lufs"]:.1f} LUFS
after; true peak {loud["after_true_peak_dbtp"]:.1f} dBTP.</p>
<table><tr><th>scene</th><th>in</th><th>out</th><th>music</th><th>genre</th><th>mood</th>
<th>bpm</th><th>key</th><th>fit</th><th>description</th></tr>{rows}</table>
"""
    write_bytes(path, page.encode())


def write_manifest(out: Path, manifest: dict[str, Any], *, outputs: list[Path]) -> dict[str, Any]:
    """Hash every output, add the run's facts, and write manifest.json last."""
    manifest = {
        "scoreflow": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **manifest,
        "outputs": {
            p.relative_to(out).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in outputs
        },
    }
    write_bytes(out / "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
    return manifest
