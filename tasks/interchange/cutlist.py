"""The proposed shot list, for the editor to check and pass back with ``--shots``.

`scoreflow cuts` writes the scenes read from the picture as a CSV shot list (the reader's
own format: ``description``, ``mood``, ``intensity``, ``curve`` and ``hits`` filled, a
``# why`` comment before each row), as an .otio timeline and as a CMX3600 EDL, each with a
marker (EDL locator) at every proposed hit point, so the cut can be looked at in the NLE.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import opentimelineio as otio

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.picture.reading import Reading
from scoreflow.tasks.timeline.model import Scene
from scoreflow.tasks.timeline.timecode import format_timecode

FORMATS = {".csv": "csv", ".otio": "otio", ".edl": "edl"}
COLUMNS = ["scene", "tc_in", "tc_out", "description", "mood", "intensity", "curve", "hits"]


def format_for(path: str) -> str:
    """The format a `--out` path asks for, by its suffix."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise InputError("unknown cut-list format", field="--out", value=path,
                         fix=f"End the name with {', '.join(FORMATS)}")  # fmt: skip
    return kind


def _tc(scene: Scene, frame: int) -> str:
    return format_timecode(frame + scene.tc_start, scene.rate, drop_frame=scene.drop_frame)


def _fields(scene: Scene) -> str:
    """The scene's fields as the cut readers take them from clip names and comments."""
    return f"mood={scene.mood} intensity={scene.intensity:.2f} curve={scene.curve}"


def to_csv(scenes: list[Scene], reading: Reading) -> str:
    """The CSV shot list, a ``# why`` comment line before each scene."""
    buf = io.StringIO()
    buf.write(f"# proposed from the picture of {Path(reading.source.path).name} "
              f"({reading.detector} detector); edit and pass back with --shots\n")  # fmt: skip
    if reading.source.note():
        buf.write(f"# {reading.source.note()}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for scene, spot in zip(scenes, reading.spots, strict=True):
        for line in [*spot.why, *spot.hit_why]:
            buf.write(f"# {scene.id}: {line}\n")
        writer.writerow([
            scene.id, scene.tc_in, scene.tc_out, scene.description, scene.mood or "",
            f"{scene.intensity:.2f}" if scene.intensity is not None else "", scene.curve or "",
            " ".join(_tc(scene, h) for h in scene.hits),
        ])  # fmt: skip
    return buf.getvalue()


def to_otio(scenes: list[Scene], reading: Reading) -> otio.schema.Timeline:
    """A timeline of the picture cut into the proposed scenes: each clip named with its
    description and fields (``mood=... intensity=... curve=...``), a zero-length marker at
    each hit (its reason in the marker's metadata)."""
    rate = float(reading.source.rate)
    video = Path(reading.source.path)
    timeline = otio.schema.Timeline(name=f"{video.stem} (proposed scenes)")
    if scenes:
        timeline.global_start_time = otio.opentime.RationalTime(scenes[0].tc_start, rate)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for scene, spot in zip(scenes, reading.spots, strict=True):
        reference = otio.schema.ExternalReference(
            target_url=video.resolve().as_uri(),
            available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate),
                otio.opentime.RationalTime(reading.source.frames, rate)),
        )  # fmt: skip
        clip = otio.schema.Clip(
            name=f"{scene.description} {_fields(scene)}", media_reference=reference,
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(scene.start_frame, rate),
                otio.opentime.RationalTime(scene.frames, rate)),
            metadata={"scoreflow": {"scene": scene.id, "why": spot.why}},
        )  # fmt: skip
        for frame, why in zip(scene.hits, spot.hit_why, strict=True):
            clip.markers.append(otio.schema.Marker(
                name="", marked_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(frame, rate), otio.opentime.RationalTime(0, rate)),
                color=otio.schema.MarkerColor.YELLOW, metadata={"scoreflow": {"why": why}},
            ))  # fmt: skip
        track.append(clip)
    timeline.tracks.append(track)
    return timeline


def to_edl(scenes: list[Scene], reading: Reading) -> str:
    """A CMX3600 EDL: one video event per scene (its description a comment), a ``* LOC:``
    locator at each hit."""
    video = Path(reading.source.path)
    drop = bool(scenes and scenes[0].drop_frame)
    lines = [f"TITLE: {video.stem} proposed scenes",
             f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]  # fmt: skip
    for n, scene in enumerate(scenes, start=1):
        src_in, src_out = _tc(scene, scene.start_frame), _tc(scene, scene.end_frame)
        lines += [
            f"{n:03d}  AX       V     C        {src_in} {src_out} {scene.tc_in} {scene.tc_out}",
            f"* FROM CLIP NAME: {video.name}",
            f"* COMMENT: {scene.description} {_fields(scene)}",
            *(f"* LOC: {_tc(scene, h)} YELLOW" for h in scene.hits),
            "",
        ]
    return "\n".join(lines)


def render(kind: str, scenes: list[Scene], reading: Reading) -> str:
    if kind == "csv":
        return to_csv(scenes, reading)
    if kind == "edl":
        return to_edl(scenes, reading)
    return str(otio.adapters.write_to_string(to_otio(scenes, reading), "otio_json"))
