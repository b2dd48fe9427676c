"""Write the deliverables: soundtrack, mix, stems, cues and MIDI, cue sheet, the score as
OTIO / FCP 7 XML / EDL for the editor, QC measurements, report, manifest.

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
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from scoreflow.tasks import __version__, interchange
from scoreflow.tasks.media import measure_loudness, stream_hash
from scoreflow.tasks.mix import Programme
from scoreflow.tasks.model import Brief, Cue, Scene
from scoreflow.tasks.storage import atomic_path, sha256_file, write_bytes
from scoreflow.tasks.timecode import format_timecode

CUESHEET_FIELDS = (
    "production",
    "cue",
    "scene",
    "title",
    "usage",
    "tc_in",
    "tc_out",
    "duration",
    "duration_tc",
    "composer",
    "composer_affiliation",
    "composer_share",
    "publisher",
    "publisher_affiliation",
    "publisher_share",
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


def write_programme(
    out: Path, programme: Programme, sample_rate: int, *, subtype: str
) -> dict[str, Path]:
    """soundtrack.wav always; mix.wav and stems/{music,dialogue}.wav when dialogue is mixed.

    The stems are the buses as they sit in the mix: they sum to mix.wav.
    """
    files = {"soundtrack": out / "soundtrack.wav"}
    write_wav(files["soundtrack"], programme.soundtrack, sample_rate, subtype=subtype)
    if programme.dialogue is not None:
        files |= {
            "mix": out / "mix.wav",
            "stem_music": out / "stems" / "music.wav",
            "stem_dialogue": out / "stems" / "dialogue.wav",
        }
        write_wav(files["mix"], programme.mix, sample_rate, subtype=subtype)
        write_wav(files["stem_music"], programme.music, sample_rate, subtype=subtype)
        write_wav(files["stem_dialogue"], programme.dialogue, sample_rate, subtype=subtype)
    return files


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


def pro_duration(seconds: float) -> str:
    """Cue-sheet duration ``M:SS``, rounded to the second (at least 0:01)."""
    whole = max(1, int(seconds + 0.5)) if seconds > 0 else 0
    return f"{whole // 60}:{whole % 60:02d}"


def cuesheet_rows(
    scenes: list[Scene],
    cues: dict[str, Cue],
    briefs: dict[str, Brief],
    *,
    production: str = "",
    people: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per cue with what performing-rights organisations ask for.

    Usage comes from the scene (BI background instrumental by default, VI visual ...);
    composer and publisher come from the config's ``[cuesheet]`` (blank placeholders else).
    """
    people = people or {}
    rows = []
    for number, scene in enumerate((s for s in scenes if s.id in cues), start=1):
        cue, brief = cues[scene.id], briefs[scene.id]
        rows.append(
            {
                "production": production,
                "cue": f"{number:02d}",
                "scene": scene.id,
                "title": f"{brief.genre.title()} {brief.mood} cue ({scene.id})",
                "usage": scene.usage,
                "tc_in": scene.tc_in,
                "tc_out": scene.tc_out,
                "duration": pro_duration(scene.duration_s),
                "duration_tc": format_timecode(scene.frames, scene.rate, drop_frame=False),
                **{
                    f"{role}{suffix}": people.get(f"{role}{suffix}", "")
                    for role in ("composer", "publisher")
                    for suffix in ("", "_affiliation")
                },
                "composer_share": "100" if people.get("composer") else "",
                "publisher_share": "100" if people.get("publisher") else "",
                "backend": cue.backend,
                "model": cue.model,
                "licence": cue.licence,
                "seed": cue.seed,
                "bpm": cue.bpm,
                "key": cue.key,
            }
        )
    return rows


def write_interchange(
    out: Path,
    scenes: list[Scene],
    cue_wavs: dict[str, Path],
    *,
    video: Path,
    video_frames: int,
    relative: bool = False,
) -> list[Path]:
    """score.otio, score.xml (FCP 7, for Premiere and Resolve) and music.edl.

    The cues sit on a music track at their scenes' record positions, pointing at their
    WAVs by absolute path, or (`relative`, for a run that is uploaded) by their path in
    the output folder, to relink after download.
    """
    if relative:
        cue_wavs = {sid: p.relative_to(out) for sid, p in cue_wavs.items()}
        video = Path(video.name)
    else:
        cue_wavs = {sid: p.resolve() for sid, p in cue_wavs.items()}
        video = video.resolve()
    timeline = interchange.score_timeline(
        scenes, cue_wavs, name=f"{video.stem} score", video=video, video_frames=video_frames
    )
    files = [out / "score.otio", out / "score.xml", out / "music.edl"]
    write_bytes(files[0], interchange.write_otio(timeline, files[0], "otio_json").encode())
    write_bytes(files[1], interchange.write_otio(timeline, files[1], "fcp_xml").encode())
    edl = interchange.music_edl(scenes, cue_wavs, title=f"{video.stem} music")
    write_bytes(files[2], edl.encode())
    return files


def measure_deliverables(
    main: Path,
    *,
    scored: Path,
    video: Path,
    regions_s: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """QC by independent tools: ffmpeg ebur128 on the delivered track (and, for a
    dialogue-gated preset, on its dialogue), on the scored video's audio after encoding,
    and the video stream's packet hash against the source's.
    """
    measured = measure_loudness(main, curve=True)
    qc: dict[str, Any] = {
        "main": {k: v for k, v in measured.items() if k != "short_term"},
        "short_term": [(round(t, 2), v) for t, v in measured["short_term"]],
        "scored_audio": measure_loudness(scored),
        "video_stream_copied": stream_hash(scored) == stream_hash(video),
    }
    if regions_s:
        qc["dialogue_gated"] = measure_loudness(main, regions_s=regions_s)
    return qc


def write_cuesheet(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CUESHEET_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_bytes(path, buf.getvalue().encode())


def _ticks(total_s: float) -> list[float]:
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if total_s / s <= 12), 900)
    return [i * step for i in range(int(total_s // step) + 1)]


def timeline_svg(manifest: dict[str, Any], *, width: int = 960) -> str:
    """The run on one time axis: scenes, cues (with their transitions), dialogue regions
    and the delivered track's short-term loudness (ffmpeg) against the target."""
    e = html.escape
    total = float(manifest["inputs"]["video"]["probe"]["duration_s"]) or 1.0
    left, plot = 90, width - 100
    sr = manifest["settings"]["pipeline"]["sample_rate"]

    def x(t: float) -> float:
        return left + plot * min(max(t, 0.0), total) / total

    parts = []
    for lane_y, label in ((18, "scenes"), (50, "cues"), (82, "dialogue"), (140, "loudness")):
        parts.append(f'<text x="4" y="{lane_y + 14}" class="l">{label}</text>')
    for s in manifest["scenes"]:
        a, b = (v / sr for v in s["samples"])
        fill = "#cde3f7" if s["music"] else "#eee"
        parts.append(
            f'<rect x="{x(a):.1f}" y="18" width="{max(x(b) - x(a), 1):.1f}" height="22" '
            f'fill="{fill}" stroke="#678"><title>{e(s["id"])} {e(s["tc_in"])}-'
            f"{e(s['tc_out'])}: {e(s['description'])}</title></rect>"
            f'<text x="{x(a) + 3:.1f}" y="33" class="s">{e(s["id"])}</text>'
        )
        if "cue" in s:
            cue = s["cue"]
            parts.append(
                f'<rect x="{x(a):.1f}" y="50" width="{max(x(b) - x(a), 1):.1f}" height="22" '
                f'fill="#f6d8a8" stroke="#a86"><title>{e(s["brief"]["genre"])} '
                f"{e(s['brief']['mood'])}, {cue.get('bpm') or ''} bpm {e(str(cue.get('key')))}"
                f'</title></rect><text x="{x(a) + 3:.1f}" y="65" class="s">'
                f"{e(s['brief']['genre'])}</text>"
            )
            if s.get("transition") in ("cut", "fade"):
                parts.append(
                    f'<text x="{x(a) - 3:.1f}" y="48" class="s">{e(s["transition"])}</text>'
                )
    for a, b in manifest.get("dialogue", {}).get("regions_s", []):
        parts.append(
            f'<rect x="{x(a):.1f}" y="82" width="{max(x(b) - x(a), 1):.1f}" height="22" '
            'fill="#b9e0b0" stroke="#6a6"/>'
        )
    top, height, lo, hi = 114, 120, -60.0, 0.0

    def y(lufs: float) -> float:
        return top + height * (hi - min(max(lufs, lo), hi)) / (hi - lo)

    loud = manifest["loudness"]
    for level in (-60, -40, -20, 0):
        parts.append(
            f'<line x1="{left}" x2="{left + plot}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            f'class="g"/><text x="{left - 4}" y="{y(level) + 4:.1f}" class="r">{level}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left + plot}" y1="{y(loud["target_lufs"]):.1f}" '
        f'y2="{y(loud["target_lufs"]):.1f}" stroke="#c33" stroke-dasharray="4 3"/>'
    )
    # short-term loudness integrates 3 s: earlier points are not readings yet
    curve = [(t, v) for t, v in manifest.get("qc", {}).get("short_term", []) if t >= 3.0]
    if curve:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in curve)
        parts.append(f'<polyline points="{points}" fill="none" stroke="#236" stroke-width="1.2"/>')
    base = top + height + 14
    prog = manifest.get("programme", {})
    rate = Fraction(prog.get("rate", "1"))
    for t in _ticks(total):
        label = f"{t:g} s"
        if prog:  # ticks on whole programme-timecode seconds
            frame = round(t) * round(rate)
            t = float(frame / rate)
            label = format_timecode(
                frame + prog["start_frame"], rate, drop_frame=prog["drop_frame"]
            )
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="14" y2="{top + height}" class="g"/>'
            f'<text x="{x(t):.1f}" y="{base}" class="c">{label}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{base + 8}" '
        f'viewBox="0 0 {width} {base + 8}"><style>.l{{font:12px sans-serif;fill:#333}}'
        ".s{font:10px sans-serif;fill:#223}.r{font:10px sans-serif;text-anchor:end}"
        ".c{font:10px sans-serif;text-anchor:middle}.g{stroke:#ddd}</style>"
        + "".join(parts)
        + "</svg>"
    )


def qc_rows(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, measured, verdict) for the report's QC table."""
    loud, qc = manifest["loudness"], manifest.get("qc", {})
    target, ceiling = loud["target_lufs"], loud["true_peak_ceiling_dbtp"]
    main = qc.get("main", {})
    gated = qc.get("dialogue_gated")
    rows = []
    if main:
        lufs = gated["integrated_lufs"] if gated else main["integrated_lufs"]
        what = "dialogue-gated loudness" if gated else "integrated loudness"
        rows.append(
            (
                f"{manifest['mux']['audio']}: {what} (target {target} LUFS)",
                f"{lufs:.1f} LUFS",
                "pass" if abs(lufs - target) <= 0.5 else "FAIL",
            )
        )
        rows.append(
            (
                f"{manifest['mux']['audio']}: true peak (ceiling {ceiling} dBTP)",
                f"{main['true_peak_dbtp']:.1f} dBTP",
                "pass" if main["true_peak_dbtp"] <= ceiling else "FAIL",
            )
        )
        if gated:
            rows.append(("programme loudness", f"{main['integrated_lufs']:.1f} LUFS", ""))
        if main.get("lra_lu") is not None:
            rows.append(("loudness range", f"{main['lra_lu']:.1f} LU", ""))
    if "scored_audio" in qc:
        sa = qc["scored_audio"]
        rows.append(
            (
                "scored video, first audio track (after encoding)",
                f"{sa['integrated_lufs']:.1f} LUFS, {sa['true_peak_dbtp']:.1f} dBTP",
                "",
            )
        )
    if "video_stream_copied" in qc:
        copied = qc["video_stream_copied"]
        rows.append(
            (
                "video stream packets identical to the source",
                str(copied),
                "pass" if copied else "FAIL",
            )
        )
    rows.append(
        (
            "our meter, before -> after",
            f"{loud['before_lufs']:.1f} -> {loud['after_lufs']:.1f} LUFS ({loud['gate']}-gated), "
            f"true peak {loud['before_true_peak_dbtp']:.1f} -> "
            f"{loud['after_true_peak_dbtp']:.1f} dBTP",
            "",
        )
    )
    return rows


def write_report(path: Path, manifest: dict[str, Any]) -> None:
    """A self-contained HTML page: the timeline plot, QC figures, scenes and cues."""
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
                s.get("transition") or "",
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
    qc = "".join(
        f"<tr><td>{e(a)}</td><td>{e(b)}</td><td class='{c.lower()}'>{e(c)}</td></tr>"
        for a, b, c in qc_rows(manifest)
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>scoreflow report</title>
<style>body{{font:14px system-ui;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.fail{{color:#b00;font-weight:bold}}
.pass{{color:#070}}</style>
<h1>scoreflow report: {e(Path(manifest["inputs"]["video"]["path"]).name)}</h1>
<p>Backend {e(manifest["settings"]["pipeline"]["backend"])}, preset {e(loud["preset"])}
(target {loud["target_lufs"]} LUFS, ceiling {loud["true_peak_ceiling_dbtp"]} dBTP,
{e(loud["gate"])}-gated). Dialogue regions: {loud.get("dialogue_regions", 0)}
{f", music ducked {loud['duck_db']:g} dB under them" if "duck_db" in loud else ""}.</p>
{timeline_svg(manifest)}
<h2>QC (measured by ffmpeg ebur128 and packet hashes)</h2>
<table><tr><th>check</th><th>measured</th><th></th></tr>{qc}</table>
<h2>Scenes and cues</h2>
<table><tr><th>scene</th><th>in</th><th>out</th><th>music</th><th>transition</th><th>genre</th>
<th>mood</th><th>bpm</th><th>key</th><th>fit</th><th>description</th></tr>{rows}</table>
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
