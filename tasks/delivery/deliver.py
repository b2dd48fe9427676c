"""Write the deliverables: soundtrack, mix, stems, cues and MIDI, cue sheet, the score as
OTIO / FCP 7 XML / EDL for the editor, QC measurements, report, manifest.

Each file appears atomically; the manifest is written last, so a folder with a manifest is
a complete result.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from scoreflow import __version__
from scoreflow.config.settings import CuesheetSettings
from scoreflow.tasks.audio.align import ring_out
from scoreflow.tasks.audio.blocks import StreamedProgramme
from scoreflow.tasks.audio.media import audio_duration_s, measure_loudness, stream_hash
from scoreflow.tasks.audio.mix import Programme
from scoreflow.tasks.audio.spool import BLOCK, SpooledCue
from scoreflow.tasks.cloud.storage import atomic_path, sha256_file, write_bytes, write_failure
from scoreflow.tasks.interchange import fcp
from scoreflow.tasks.interchange import nle as interchange
from scoreflow.tasks.timeline.model import Brief, Cue, MediaInfo, Scene
from scoreflow.tasks.timeline.timecode import format_timecode

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
    """Write (channels, samples) float audio as WAV, atomically. A full disk is reported
    as such (libsndfile itself only says "System error")."""
    with atomic_path(path) as tmp:
        try:
            soundfile.write(
                tmp, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format="WAV"
            )
        except (RuntimeError, OSError) as exc:
            need = audio.size * {"PCM_16": 2, "PCM_24": 3}.get(subtype, 4)
            raise write_failure(path, exc, need_bytes=need) from None


def write_programme(
    out: Path,
    programme: Programme | StreamedProgramme,
    sample_rate: int,
    *,
    subtype: str,
    block: int = BLOCK,
) -> dict[str, Path]:
    """soundtrack.wav always; mix.wav and stem_music/stem_dialogue when dialogue is mixed.

    The stems are the buses as they sit in the mix: they sum to mix.wav. The files are
    written block by block from `programme.parts` (all at once, each atomically), so a
    programme made in blocks (`tasks.audio.blocks`) is never held whole.
    """
    names = {
        "soundtrack": "soundtrack.wav",
        "mix": "mix.wav",
        "stem_music": "stems/music.wav",
        "stem_dialogue": "stems/dialogue.wav",
    }
    first = programme.parts(0, min(block, programme.samples))
    files = {k: out / names[k] for k in names if k in first}
    with contextlib.ExitStack() as stack:
        writers = {}
        for key, path in files.items():
            tmp = stack.enter_context(atomic_path(path))
            writers[key] = stack.enter_context(
                soundfile.SoundFile(tmp, "w", sample_rate, 2, subtype=subtype, format="WAV")
            )
        try:
            for lo in range(0, programme.samples, block):
                parts = (
                    first if lo == 0 else programme.parts(lo, min(programme.samples, lo + block))
                )
                for key, writer in writers.items():
                    writer.write(np.ascontiguousarray(parts[key].T))
        except (RuntimeError, OSError) as exc:
            need = programme.samples * 2 * len(files) * {"PCM_16": 2, "PCM_24": 3}.get(subtype, 4)
            raise write_failure(out / "soundtrack.wav", exc, need_bytes=need) from None
    return files


def write_cues(
    out: Path, cues: Sequence[Cue | SpooledCue], *, subtype: str
) -> dict[str, dict[str, str]]:
    """cues/<scene>.wav (the cue with its ring-out, `align.ring_out`) and .mid for every
    cue (a spooled one loaded one at a time); returns scene id -> relative file paths."""
    files: dict[str, dict[str, str]] = {}
    used: set[str] = set()
    for held in cues:
        cue = in_memory(held)
        stem = safe_name(cue.scene_id)
        while stem in used:
            stem += "_"
        used.add(stem)
        entry = {"wav": f"cues/{stem}.wav"}
        write_wav(out / entry["wav"], ring_out(cue), cue.sample_rate, subtype=subtype)
        if cue.midi:
            entry["mid"] = f"cues/{stem}.mid"
            write_bytes(out / entry["mid"], cue.midi)
        files[cue.scene_id] = entry
    return files


def write_takes(
    out: Path, takes: Mapping[str, Sequence[Cue | SpooledCue]], *, subtype: str
) -> dict[str, list[dict[str, str]]]:
    """takes/<scene>/take-<k>.wav (and .mid) for every take of every scene that has more
    than one, the chosen one too; returns scene id -> each take's relative file paths."""
    files: dict[str, list[dict[str, str]]] = {}
    for scene_id, cues in takes.items():
        if len(cues) < 2:
            continue
        folder = f"takes/{safe_name(scene_id)}"
        files[scene_id] = []
        for k, held in enumerate(cues, start=1):
            cue = in_memory(held)
            entry = {"wav": f"{folder}/take-{k}.wav"}
            write_wav(out / entry["wav"], ring_out(cue), cue.sample_rate, subtype=subtype)
            if cue.midi:
                entry["mid"] = f"{folder}/take-{k}.mid"
                write_bytes(out / entry["mid"], cue.midi)
            files[scene_id].append(entry)
    return files


def in_memory(cue: Cue | SpooledCue) -> Cue:
    """A cue with its audio in memory (a spooled one loaded)."""
    return cue.load() if isinstance(cue, SpooledCue) else cue


def carry_revisions(stage: Path, folder: Path | None, *, revising: bool) -> list[Path]:
    """The earlier revisions' records (``revisions/<n>/manifest.json`` of the run folder
    `folder`) copied into this run's `stage`, so the new run keeps them, and when
    `revising`, the folder's current manifest as the record of its own revision; their
    paths."""
    if folder is None:
        return []
    kept = []
    current = folder / "manifest.json"
    if revising and current.is_file():
        number = json.loads(current.read_text()).get("revision", {}).get("number", 0)
        target = stage / "revisions" / str(number) / "manifest.json"
        write_bytes(target, current.read_bytes())
        kept.append(target)
    for old in sorted((folder / "revisions").glob("*/manifest.json")):
        if old.parent.name.isdigit():
            target = stage / "revisions" / old.parent.name / "manifest.json"
            if target not in kept:
                write_bytes(target, old.read_bytes())
                kept.append(target)
    return kept


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
    people: CuesheetSettings | None = None,
) -> list[dict[str, Any]]:
    """One row per cue with what performing-rights organisations ask for.

    Usage comes from the scene (BI background instrumental by default, VI visual ...);
    composer and publisher come from `people`, the config's ``[cuesheet]`` (blank
    placeholders without it).
    """
    names: dict[str, str] = {} if people is None else people.model_dump()
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
                    f"{role}{suffix}": names.get(f"{role}{suffix}", "")
                    for role in ("composer", "publisher")
                    for suffix in ("", "_affiliation")
                },
                "composer_share": "100" if names.get("composer") else "",
                "publisher_share": "100" if names.get("publisher") else "",
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
    media: MediaInfo,
    crossfade_s: float = 0.5,
    relative: bool = False,
    sample_rate: int = 48000,
    link_root: Path | None = None,
) -> list[Path]:
    """score.otio, score.xml (FCP 7: Premiere, Resolve), score.fcpxml (Final Cut Pro) and
    music.edl: the picture, the video's own audio and the music track with its crossfades.

    Media are linked by absolute ``file://`` URLs, or (`relative`, for a run that is
    uploaded) by their paths in the run folder, with RELINK.txt saying how to relink them
    after download. `link_root` is where the files will be when the run is switched into
    place (`outdir.RunFolder`), when that is not `out`.
    """
    rate = scenes[0].rate
    media_frames = {  # each file's own length, ring-out included (the clip's handle)
        sid: int(soundfile.info(str(p)).frames * rate / sample_rate)
        for sid, p in cue_wavs.items()
        if p.is_file()
    }
    if relative:
        cue_wavs = {sid: p.relative_to(out) for sid, p in cue_wavs.items()}
        video = Path(video.name)
    else:
        root = (link_root or out).resolve()
        cue_wavs = {
            sid: root / p.resolve().relative_to(out.resolve()) for sid, p in cue_wavs.items()
        }
        video = video.resolve()
    seq = fcp.Sequence(
        name=f"{video.stem} score",
        video=video,
        media=media,
        cues=tuple(
            fcp.cue_clips(scenes, cue_wavs, crossfade_s=crossfade_s, media_frames=media_frames)
        ),
        tc_start=scenes[0].tc_start,
        drop_frame=scenes[0].drop_frame,
        relative=relative,
        sample_rate=sample_rate,
    )
    names = ["score.otio", "score.xml", "score.fcpxml", "music.edl"]
    files = [out / n for n in names]
    timeline = interchange.score_timeline(seq)
    write_bytes(files[0], interchange.write_otio(timeline, files[0], "otio_json").encode())
    write_bytes(files[1], fcp.fcp7_xml(seq).encode())
    write_bytes(files[2], fcp.fcpxml(seq).encode())
    edl = interchange.music_edl(scenes, cue_wavs, title=f"{video.stem} music")
    write_bytes(files[3], edl.encode())
    if relative:
        files.append(out / "RELINK.txt")
        write_bytes(files[-1], RELINK.format(video=video.name).encode())
    return files


RELINK = """The NLE files here (score.xml, score.fcpxml, score.otio, music.edl) name their media
by their paths inside this folder (cues/<scene>.wav) and the source video by its name
({video}), because this run was uploaded and its final location is yours to choose.
After downloading the folder:
- Premiere Pro: File > Import score.xml; in the Link Media dialog, Locate the first cue in
  cues/ and the others follow; point the video at your copy of {video}.
- DaVinci Resolve: File > Import Timeline > score.xml; right-click the offline clips in the
  media pool > Relink Selected Clips > this folder.
- Final Cut Pro: File > Import > XML > score.fcpxml, then File > Relink Files.
A local run (scoreflow score ... --out FOLDER) writes absolute file:// paths instead.
"""


def measure_written(
    main: Path,
    *,
    regions_s: list[tuple[float, float]] | None = None,
    soundtrack: Path | None = None,
    music_spans_s: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """QC of the WAVs as written, by independent tools: ffmpeg ebur128 on the delivered
    track (and, for a dialogue-gated preset, on its dialogue), its clipped samples, and the
    music scenes that are silent in the soundtrack (RMS under -60 dBFS away from their
    edges). Needs nothing muxed, so it runs while the mux does."""
    measured = measure_loudness(main, curve=True)
    qc: dict[str, Any] = {
        "main": {k: v for k, v in measured.items() if k != "short_term"},
        "short_term": [(round(t, 2), v) for t, v in measured["short_term"]],
        "clipped_samples": clipped_samples(main),
    }
    if regions_s:
        qc["dialogue_gated"] = measure_loudness(main, regions_s=regions_s)
    if soundtrack is not None and music_spans_s:
        qc["silent_music_scenes"] = silent_scenes(soundtrack, music_spans_s)
    return qc


def measure_scored(scored: Path, *, video: Path, picture_s: float | None = None) -> dict[str, Any]:
    """QC of the scored video: ffmpeg ebur128 on its audio after encoding, its video
    stream's packet hash against the source's, and its audio's duration against the
    picture's."""
    qc: dict[str, Any] = {
        "scored_audio": measure_loudness(scored),
        "video_stream_copied": stream_hash(scored) == stream_hash(video),
    }
    if picture_s is not None:
        qc["durations_s"] = {
            "picture": round(picture_s, 4),
            "scored_audio": audio_duration_s(scored),
        }
    return qc


def clipped_samples(path: Path, *, level: float = 0.9999) -> int:
    """Samples of a WAV at full scale or over, read block by block."""
    count = 0
    for block in soundfile.blocks(str(path), blocksize=1 << 20, dtype="float32", always_2d=True):
        count += int((np.abs(block) >= level).sum())
    return count


def silent_scenes(
    path: Path, spans_s: dict[str, tuple[float, float]], *, floor_db: float = -60.0
) -> list[str]:
    """Scenes whose audio in a WAV is under `floor_db` RMS, their first and last half
    second left out (fades)."""
    quiet = []
    with soundfile.SoundFile(str(path)) as f:
        for sid, (a, b) in spans_s.items():
            lo, hi = a + 0.5, b - 0.5
            if hi - lo < 0.5:
                continue
            f.seek(int(lo * f.samplerate))
            x = f.read(int((hi - lo) * f.samplerate), dtype="float32", always_2d=True)
            rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0
            if 20 * np.log10(max(rms, 1e-12)) < floor_db:
                quiet.append(sid)
    return quiet


def spreadsheet_safe(value: Any) -> Any:
    """A cell value a spreadsheet shows as text: one starting with ``= + - @`` (a formula
    to Excel, LibreOffice and Sheets) gets a leading apostrophe; control characters go."""
    if not isinstance(value, str):
        return value
    value = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def write_cuesheet(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CUESHEET_FIELDS)
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    write_bytes(path, buf.getvalue().encode())


def scored_video(manifest: dict[str, Any]) -> str:
    """The scored video's name among a run's outputs (``<video stem>.scored.<ext>``)."""
    return next(k for k in manifest["outputs"] if ".scored." in k)


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
