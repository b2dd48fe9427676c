"""Edit interchange through OpenTimelineIO: cuts in (EDL, FCP 7 XML, FCPXML, .otio), score out.

Reading turns one track of a cut into shot-list rows (`tasks.interchange.shotlist`): each clip is a
scene at its record position, its name, comments and markers give the description, fields
written as ``mood=tense`` set explicit columns, zero-length markers (EDL locators) are hit
points, and a transition into a clip becomes that boundary's crossfade. Gaps stay silent.

Positions are programme frames (record timecode, e.g. from 01:00:00:00); the shot-list
reader subtracts the programme's start timecode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from scoreflow.tasks.cloud.storage import regular_file
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange import fcp
from scoreflow.tasks.timeline.model import Scene
from scoreflow.tasks.timeline.timecode import (
    format_timecode,
    parse_rate,
    parse_timecode,
    rate_name,
    snap_rate,
    supports_drop_frame,
)

ADAPTERS = {".edl": "cmx_3600", ".xml": "fcp_xml", ".fcpxml": "fcpx_xml", ".otio": "otio_json"}
FIELD = re.compile(r"\b([a-z_]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s,;]+)", re.I)
#: shot-list columns a cut's text may set as ``name=value`` (others stay in the text)
TEXT_FIELDS = {
    *("scene", "genre", "mood", "tempo_bpm", "tempo", "bpm", "key", "instruments"),
    *("instrument", "intensity", "energy", "curve", "arc", "music", "seed", "usage"),
    *("transition", "transition_s", "dialogue"),
}
_MEDIA_NAME = re.compile(r"\.(mov|mxf|mp4|m4v|wav|aif+|r3d|braw|ari|dpx|exr|jpg|png)$", re.I)
_EVENT = re.compile(
    r"^(?P<num>\d{1,6})\s+(?P<reel>\S+)\s+(?P<track>\S+)\s+(?P<kind>C|D|W\d{3}|K[BO]?)"
    r"(?:\s+(?P<length>\d{1,3}))?\s+(?P<tcs>(?:\d{2}:\d{2}:\d{2}[:;.,]\d{2}\s*){4})\s*$"
)
_TC = re.compile(r"\d{2}:\d{2}:\d{2}[:;.,]\d{2}")
_LOC = re.compile(r"^(\*\s*LOC:\s*)(\d{2}:\d{2}:\d{2}[:;.,]\d{2})(.*)$")


@dataclass
class CutRow:
    """One clip of a cut, as the shot-list reader takes it."""

    line: int  # 0 where the format has no line numbers
    origin: str
    fields: dict[str, Any]  # scene, tc_in, tc_out (programme frames), description, hits ...


@dataclass
class Cut:
    """What a cut file says: its clips as rows, its rate and its start timecode."""

    rows: list[CutRow]
    rate: Fraction
    drop_frame: bool
    start_frame: int | None  # programme start timecode in frames, when the file gives one


def _snap(rate: float, source: str) -> Fraction:
    try:
        return parse_rate(snap_rate(rate))
    except InputError as exc:
        raise exc.located(source=source, field="rate") from None


def _marker_frame(
    marker: Any,
    src_start: Any,
    rate: Fraction,
    *,
    rec_in: int,
    rec_out: int,
    hour: int,
    where: str,
) -> int:
    """A clip marker's programme frame. Markers are in the clip's source time, but some
    writers (OTIO's EDL reader with ``* LOC:`` lines, then saved as .otio or XML) leave
    them in record timecode: a marker outside the clip's source range that falls inside its
    record range, in the programme's hour or a whole number of hours (`hour` frames) off,
    is read as record time. Neither is an error naming the marker."""
    start = marker.marked_range.start_time
    at = rec_in + _frames(start - src_start, rate)
    if rec_in <= at < rec_out:
        return at
    absolute = _frames(start, rate)
    for hours in range(24):
        if rec_in <= absolute - hours * hour < rec_out:
            return absolute - hours * hour
    raise InputError(
        f"marker {marker.name!r} at frame {absolute} lies outside its clip in source and "
        "in record time",
        source=where,
        fix="Move the marker onto the clip, or delete it",
    )


def _frames(t: otio.opentime.RationalTime, rate: Fraction) -> int:
    return round(t.value * Fraction(rate) / Fraction(t.rate).limit_denominator(1001))


@dataclass
class _Event:
    line: int
    number: str
    src_in: int
    rec_in: int
    rec_out: int
    locators: list[tuple[int, str]]  # (frame as written, text)

    def record_frame(self, frame: int) -> int | None:
        """A locator's record frame: record timecode as written, else source timecode."""
        if self.rec_in <= frame < self.rec_out:
            return frame
        at = self.rec_in + frame - self.src_in
        return at if self.rec_in <= at < self.rec_out else None


def _normalise_edl(text: str, rate: Fraction, source: str) -> tuple[str, list[_Event], bool]:
    """Make drop-frame explicit for the adapter and list the events with their lines.

    The ``FCM:`` line (until the next one) or a ``;`` marks drop-frame; the adapter reads
    only the separator, so every timecode is rewritten with ``;`` or ``:``. Locators are
    taken out and kept on their event: writers disagree on whether they carry record or
    source timecode, and the adapter reads only non-drop ones.
    Returns the text, the events, and whether the EDL is drop-frame.
    """
    fcm_drop: bool | None = None
    drop_any = False
    events: list[_Event] = []
    out = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        upper = line.upper()
        if upper.startswith("FCM:"):
            fcm_drop = "NON" not in upper and "DROP" in upper
            drop_any |= fcm_drop
            out.append(raw)
            continue
        m = _EVENT.match(line)
        loc = _LOC.match(line)
        if m:
            tcs = _TC.findall(m["tcs"])
            drop = fcm_drop if fcm_drop is not None else any(";" in t for t in tcs)
            drop = drop or any(t[8] in ";.," for t in tcs)
            drop_any |= drop
            try:
                frames = [parse_timecode(t, rate, drop_frame=drop) for t in tcs]
            except InputError as exc:
                raise exc.located(source=source, line=n, field="timecode") from None
            sep = ";" if drop else ":"
            fixed = [t[:8] + sep + t[9:] for t in tcs]
            head = line[: m.start("tcs")]
            out.append(head + " ".join(fixed))
            if frames[3] > frames[2]:
                events.append(_Event(n, m["num"], frames[0], frames[2], frames[3], []))
        elif loc and events:
            t = loc[2]
            drop = bool(fcm_drop) or t[8] in ";.,"
            try:
                frame = parse_timecode(t, rate, drop_frame=drop)
            except InputError as exc:
                raise exc.located(source=source, line=n, field="LOC") from None
            # the colour, then the text
            events[-1].locators.append((frame, re.sub(r"^\s*\w+\s*", "", loc[3], count=1)))
        else:
            out.append(raw)
    if not events:
        raise InputError(
            "no events found",
            source=source,
            fix="An EDL event reads '001  REEL  V  C  src_in src_out rec_in rec_out'",
        )
    return "\n".join(out) + "\n", events, drop_any


def _fcpxml_start(text: str, rate: Fraction) -> int | None:
    m = re.search(r"<sequence\b[^>]*\btcStart=\"([^\"]+)\"", text)
    if not m:
        return None
    value = m[1].rstrip("s")
    seconds = Fraction(value) if value else Fraction(0)
    return round(seconds * rate)


def _text_of(item: otio.core.Item) -> list[str]:
    """Name, comments and notes the adapters keep in metadata."""
    parts = []
    name = item.name.strip()
    if name and not name.isdigit() and not _MEDIA_NAME.search(name):  # not "001", "a.mov"
        parts.append(name)
    meta = item.metadata
    for comment in meta.get("cmx_3600", {}).get("comments", []) or []:
        parts.append(re.sub(r"^\s*\*?\s*(COMMENT|NOTE)S?\s*:\s*", "", str(comment), flags=re.I))
    fcp = meta.get("fcp_xml", {})
    comments = fcp.get("comments") if isinstance(fcp, Mapping) else None
    if isinstance(comments, Mapping):
        parts += [str(v) for v in comments.values() if v]
    elif comments:
        parts.append(str(comments))
    for key in ("description", "notes", "note", "comment"):
        if isinstance(meta.get(key), str) and meta[key]:
            parts.append(meta[key])
    return parts


def _fields(texts: list[str]) -> tuple[str, dict[str, str]]:
    """Split ``key=value`` fields out of free text."""
    found: dict[str, str] = {}

    def take(m: re.Match[str]) -> str:
        if m[1].lower() not in TEXT_FIELDS:
            return m[0]
        found[m[1].lower()] = m[2].strip("\"'")
        return " "

    words = [re.sub(r"\s+", " ", FIELD.sub(take, t)).strip(" ,;:-") for t in texts]
    return ". ".join(w for w in words if w), found


def _track(timeline: otio.schema.Timeline, source: str) -> otio.schema.Track:
    tracks = [t for t in timeline.tracks if isinstance(t, otio.schema.Track)]
    with_clips = [t for t in tracks if any(isinstance(i, otio.core.Item) for i in t)]
    video = [t for t in with_clips if t.kind == otio.schema.TrackKind.Video]
    if not (video or with_clips):
        raise InputError("the cut has no clips", source=source, fix="Export a cut with clips")
    return (video or with_clips)[0]


def read_cut(path: Path, *, rate: Fraction | None) -> Cut:
    """Read an EDL, FCP 7 XML, FCPXML or .otio cut into rows of scenes.

    Parameters
    ----------
    path : Path
        The cut. An EDL has no rate of its own: `rate` is required for it.
    rate : Fraction, optional
        The programme's frame rate (``--fps`` or the video's); XML and OTIO carry their own,
        which must agree with it.

    Raises
    ------
    InputError
        An unreadable cut, or one without clips, naming the file (and line for EDLs).
    """
    source = str(path)
    adapter = ADAPTERS[path.suffix.lower()]
    text = _read_text(path, source)
    events: list[_Event] = []
    drop = False
    edl_rate: Fraction | None = None
    if adapter == "cmx_3600":
        edl_rate = _edl_rate(rate, source)
        text, events, drop = _normalise_edl(text, edl_rate, source)
    timeline = _read_timeline(text, adapter, edl_rate=edl_rate, source=source)
    track = _track(timeline, source)
    rate = _cut_rate(track, edl_rate, rate=rate, source=source)
    origin, start, drop = _programme_start(adapter, timeline, text, events, rate=rate, drop=drop)
    place = _placing(events, source=source, rate=rate, origin=origin, drop=drop)
    rows, spans = _clip_rows(track, place)
    _sequence_markers([*timeline.tracks.markers, *track.markers], spans, place)
    if not rows:
        raise InputError("the cut has no clips", source=source, fix="Export a cut with clips")
    return Cut(rows=rows, rate=rate, drop_frame=drop, start_frame=start)


def _read_text(path: Path, source: str) -> str:
    """The cut's text (a regular file of at most 256 MB, undecodable bytes replaced)."""
    regular_file(path, what="cut", max_bytes=256_000_000)
    try:
        return path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read the cut: {exc.strerror}", source=source) from None


def _edl_rate(rate: Fraction | None, source: str) -> Fraction:
    """An EDL's rate: the one given, as an EDL does not say its own."""
    if rate is None:
        raise InputError(
            "an EDL does not say its frame rate",
            source=source,
            fix="Pass --fps (e.g. --fps 29.97) or give the video",
        )
    return rate


def _read_timeline(
    text: str, adapter: str, *, edl_rate: Fraction | None, source: str
) -> otio.schema.Timeline:
    """The file's (first) timeline, read by OTIO's `adapter`."""
    kwargs: dict[str, Any] = {"rate": float(edl_rate)} if edl_rate is not None else {}
    try:
        result = otio.adapters.read_from_string(text, adapter, **kwargs)
    except Exception as exc:  # adapters raise many kinds; all mean an unreadable cut
        raise InputError(
            f"cannot read the cut ({adapter}): {exc}",
            source=source,
            fix="Export it again from the editing system",
        ) from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = [t for t in result.find_children(descended_from_type=otio.schema.Timeline)]
        timelines += [t for t in result if isinstance(t, otio.schema.Timeline)]
        if not timelines:
            raise InputError("the file holds no timeline", source=source)
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise InputError(
            f"the file holds {type(result).__name__}, not a timeline",
            source=source,
            fix="Export the edit's timeline (sequence) from the editing system",
        )
    timeline: otio.schema.Timeline = result
    return timeline


def _cut_rate(
    track: otio.schema.Track, edl_rate: Fraction | None, *, rate: Fraction | None, source: str
) -> Fraction:
    """The cut's rate (an EDL's as given, else its first clip's), which must be `rate`
    when one is given."""
    first = next(i for i in track if isinstance(i, otio.core.Item))
    file_rate = edl_rate or _snap(first.range_in_parent().duration.rate, source)
    if rate is not None and file_rate != rate:
        raise InputError(
            f"the cut runs at {rate_name(file_rate)} fps but the video at {rate_name(rate)}",
            source=source,
            field="rate",
            fix="Export the cut at the video's rate (or conform the video)",
        )
    return file_rate


def _programme_start(
    adapter: str,
    timeline: otio.schema.Timeline,
    text: str,
    events: list[_Event],
    *,
    rate: Fraction,
    drop: bool,
) -> tuple[int, int | None, bool]:
    """The programme frame at the track's time 0, the programme's start timecode in frames
    when the file gives one, and whether the cut is drop-frame."""
    if adapter == "cmx_3600":
        origin = min(e.rec_in for e in events)
        hour = format_timecode(origin, rate, drop_frame=drop)[:2]  # the hour it starts in
        start = parse_timecode(f"{hour}:00:00{';' if drop else ':'}00", rate, drop_frame=drop)
        return origin, start, drop
    if adapter == "fcpx_xml":
        return 0, _fcpxml_start(text, rate), drop
    gst = timeline.global_start_time
    origin = _frames(gst, rate) if gst is not None else 0
    tc_meta = timeline.metadata.get("fcp_xml", {}).get("timecode", {})
    if adapter == "fcp_xml":
        drop = isinstance(tc_meta, Mapping) and tc_meta.get("displayformat") == "DF"
    else:  # OTIO's own timecodes are drop-frame at 29.97 and 59.94
        drop = supports_drop_frame(rate)
    return origin, origin if gst is not None else None, drop


@dataclass
class _Placing:
    """What placing a track's clips in the programme needs: the file, the rate, the
    programme frame at the track's time 0, an hour in frames, and the EDL event of each
    record span (the first, if one repeats)."""

    source: str
    rate: Fraction
    origin: int
    hour_frames: int
    by_record: dict[tuple[int, int], _Event]


def _placing(
    events: list[_Event], *, source: str, rate: Fraction, origin: int, drop: bool
) -> _Placing:
    by_record: dict[tuple[int, int], _Event] = {}
    for e in events:
        by_record.setdefault((e.rec_in, e.rec_out), e)
    hour_frames = round(3600 * rate) if drop else 3600 * round(rate)
    return _Placing(source, rate, origin, hour_frames, by_record)


_Span = tuple[int, int, CutRow]  # a clip's record in and out, and its row


def _clip_rows(track: otio.schema.Track, place: _Placing) -> tuple[list[CutRow], list[_Span]]:
    """A row for each clip of `track`, a transition into it giving its crossfade; gaps
    stay silent."""
    rows: list[CutRow] = []
    spans: list[_Span] = []
    transition: tuple[str, float] | None = None
    n = 0
    for item in track:
        if isinstance(item, otio.schema.Transition):
            length = _frames(item.in_offset + item.out_offset, place.rate)
            transition = ("crossfade", float(Fraction(length) / place.rate))
            continue
        if isinstance(item, otio.schema.Gap) or not isinstance(item, otio.core.Item):
            transition = None
            continue
        n += 1
        span = _clip_row(item, n, place, transition=transition)
        transition = None
        rows.append(span[2])
        spans.append(span)
    return rows, spans


def _clip_row(
    item: otio.core.Item, n: int, place: _Placing, *, transition: tuple[str, float] | None
) -> _Span:
    """Clip `n` as a row at its record span: its EDL event's number and line when it has
    one, its text and markers read into the description, fields and hit points."""
    rate = place.rate
    rng = item.range_in_parent()
    rec_in = place.origin + _frames(rng.start_time, rate)
    rec_out = rec_in + _frames(rng.duration, rate)
    line, sid, where = 0, f"{n:03d}", f"{place.source} (clip {n} {item.name!r})"
    event = place.by_record.get((rec_in, rec_out))
    if event:
        line, sid, where = event.line, event.number, f"{place.source}:{event.line}"
    hits, notes = _clip_marks(item, event, place, rec_in=rec_in, rec_out=rec_out, where=where)
    description, fields = _fields(_text_of(item) + notes)
    row = CutRow(
        line,
        where,
        {
            "scene": sid,
            "tc_in": rec_in,
            "tc_out": rec_out,
            "description": description,
            "hits": hits,
        },
    )
    if transition:
        row.fields["transition"], row.fields["transition_s"] = transition
    row.fields.update(fields)
    return rec_in, rec_out, row


def _clip_marks(
    item: otio.core.Item,
    event: _Event | None,
    place: _Placing,
    *,
    rec_in: int,
    rec_out: int,
    where: str,
) -> tuple[list[int], list[str]]:
    """The hit points (zero-length markers, EDL locators) of a clip and the text of its
    markers and locators."""
    rate = place.rate
    hits: list[int] = []
    notes: list[str] = []
    src_start = item.trimmed_range().start_time
    for marker in item.markers:
        at = _marker_frame(marker, src_start, rate, rec_in=rec_in, rec_out=rec_out,
                           hour=place.hour_frames, where=where)  # fmt: skip
        if _frames(marker.marked_range.duration, rate) <= 1:
            hits.append(at)
        if marker.name:
            notes.append(marker.name)
    for at_written, words in event.locators if event else ():
        located = event.record_frame(at_written) if event else None
        if located is not None:
            hits.append(located)
            notes.append(words)
    return hits, notes


def _sequence_markers(markers: list[Any], spans: list[_Span], place: _Placing) -> None:
    """Markers on the sequence or the track: hits and text of the clip under them."""
    for marker in markers:
        at = place.origin + _frames(marker.marked_range.start_time, place.rate)
        for lo, hi, row in spans:
            if lo <= at < hi:
                if _frames(marker.marked_range.duration, place.rate) <= 1:
                    row.fields["hits"].append(at)
                if marker.name:
                    row.fields["description"] = ". ".join(
                        p for p in (row.fields["description"], marker.name) if p
                    )


# --- writing the score back ---------------------------------------------------------------


def _rt(frames: int, rate: Fraction) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, float(rate))


def _range(start: int, frames: int, rate: Fraction) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(_rt(start, rate), _rt(frames, rate))


def score_timeline(seq: fcp.Sequence) -> otio.schema.Timeline:
    """The cut with the score: V1 the picture, "Original" the video's own audio (when it has
    any), "Music" each cue at its scene with the crossfades between touching cues.

    Positions are the scenes' record positions, the timeline starting at the programme's
    start timecode; media are linked as `seq.url` says.
    """
    rate, m = seq.media.rate, seq.media
    tc_meta = {"fcp_xml": {"timecode": {"displayformat": "DF" if seq.drop_frame else "NDF"}}}
    timeline = otio.schema.Timeline(name=seq.name, metadata=tc_meta)
    timeline.global_start_time = _rt(seq.tc_start, rate)

    def source() -> otio.schema.ExternalReference:
        return otio.schema.ExternalReference(
            target_url=seq.url(seq.video), available_range=_range(0, m.frames, rate)
        )

    kinds = [("V1", otio.schema.TrackKind.Video)]
    kinds += [("Original", otio.schema.TrackKind.Audio)] if m.audio_streams else []
    for name, kind in kinds:
        track = otio.schema.Track(name=name, kind=kind)
        track.append(otio.schema.Clip(name=seq.video.name, media_reference=source(),
                                      source_range=_range(0, m.frames, rate)))  # fmt: skip
        timeline.tracks.append(track)
    timeline.tracks.append(_music_track(seq))
    return timeline


def _music_track(seq: fcp.Sequence) -> otio.schema.Track:
    rate = seq.media.rate
    music = otio.schema.Track(name="Music", kind=otio.schema.TrackKind.Audio)
    for kind, _, frames, i in seq.music_layout():
        if kind == "gap":
            music.append(otio.schema.Gap(source_range=_range(0, frames, rate)))
        elif kind == "crossfade":
            music.append(otio.schema.Transition(
                name="Cross Fade (+3dB)",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=_rt(frames // 2, rate),
                out_offset=_rt(frames - frames // 2, rate),
            ))  # fmt: skip
        else:
            cue = seq.cues[i]
            reference = otio.schema.ExternalReference(
                target_url=seq.url(cue.path), available_range=_range(0, cue.file_frames, rate)
            )
            music.append(otio.schema.Clip(name=cue.name, media_reference=reference,
                                          source_range=_range(0, frames, rate)))  # fmt: skip
    return music


def music_edl(scenes: list[Scene], cue_files: dict[str, Path], *, title: str) -> str:
    """A CMX3600 EDL of the music track: one audio event per cue at its record position.

    Written here rather than by the OTIO adapter, which drops the ``FCM`` line and wants a
    video track.
    """
    drop = scenes[0].drop_frame
    lines = [f"TITLE: {title}", f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]
    number = 0
    for scene in scenes:
        if scene.id not in cue_files:
            continue
        number += 1
        wav = cue_files[scene.id]
        reel = re.sub(r"[^A-Z0-9]", "", wav.stem.upper())[:8] or "AX"
        src_in = format_timecode(0, scene.rate, drop_frame=drop)
        src_out = format_timecode(scene.frames, scene.rate, drop_frame=drop)
        lines += [
            f"{number:03d}  {reel:<8} AA    C        {src_in} {src_out} "
            f"{scene.tc_in} {scene.tc_out}",
            f"* FROM CLIP NAME: {wav.name}",
            f"* FROM FILE: {wav}",
            "",
        ]
    return "\n".join(lines)


def write_otio(timeline: otio.schema.Timeline, path: Path, adapter: str) -> str:
    """Serialise with an OTIO adapter; returns the text."""
    try:
        return str(otio.adapters.write_to_string(timeline, adapter))
    except Exception as exc:
        raise InputError(f"cannot write {path.name} ({adapter}): {exc}") from None
