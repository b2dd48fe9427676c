"""Read and validate shot lists (CSV, JSON, YAML, and cuts: EDL, FCP XML, OTIO) into `Scene`s.

Every error names the file, the line, the scene, the field and the value, and says what
would be valid. Gaps between scenes are fine (silence); overlaps are not. Timecodes are
programme timecodes: the programme's start (``--start-tc``, else the video's own timecode,
else the cut's) is subtracted, so scene frames count from the video's first frame.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from scoreflow.tasks.cloud.storage import regular_file
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange import nle as interchange
from scoreflow.tasks.timeline.model import MediaInfo, Scene
from scoreflow.tasks.timeline.timecode import format_timecode, parse_rate, parse_timecode, rate_name

ALIASES = {
    "id": "scene",
    "scene_id": "scene",
    "in": "tc_in",
    "start": "tc_in",
    "timecode_in": "tc_in",
    "out": "tc_out",
    "end": "tc_out",
    "timecode_out": "tc_out",
    "prompt": "description",
    "tempo": "tempo_bpm",
    "bpm": "tempo_bpm",
    "instrument": "instruments",
    "energy": "intensity",
    "arc": "curve",
    "energy_curve": "curve",
    "leitmotif": "theme",
    "xfade": "transition",
    "transition_length": "transition_s",
    "crossfade_s": "transition_s",
}
TRANSITIONS = {"cut": "cut", "crossfade": "crossfade", "dissolve": "crossfade", "fade": "fade"}
USAGES = ("BI", "BV", "VI", "VV", "MT", "ET")
REQUIRED = ("scene", "tc_in", "description")
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".yaml": "yaml"}
SUFFIXES[".yml"] = "yaml"
SUFFIXES |= dict.fromkeys(interchange.ADAPTERS, "cut")
_THEME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TRUE = {"yes", "y", "true", "on", "1"}
_FALSE = {"no", "n", "false", "off", "0"}
_KEY = re.compile(
    r"^([A-Ga-g])([#b♯♭]?)\s*(m|min|minor|maj|major|dorian|mixolydian|lydian|phrygian)?$"
)


@dataclass
class _Row:
    """One scene as read: field -> (value, line)."""

    line: int
    fields: dict[str, tuple[Any, int]]
    origin: str = ""


def _norm_key(key: object) -> str:
    k = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return ALIASES.get(k, k)


def _decode(data: bytes, source: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"broken UTF-16 text ({exc.reason} at byte {exc.start})",
                source=source,
                fix="Save the shot list again as UTF-8 (in Excel: 'CSV UTF-8')",
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02X} cannot be decoded",
            source=source,
            line=line,
            fix="Save the shot list as UTF-8 (in Excel: 'CSV UTF-8')",
        ) from None


DELIMITERS = ",;\t|"
MAX_ROWS = 200_000
MAX_SHOTLIST_BYTES = 64_000_000
MAX_DEPTH = 50  # nesting of a JSON/YAML shot list
MAX_ID = 64  # characters of a scene id: it names the cue's files
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _delimiter(header: str, source: str) -> str:
    """The delimiter of a CSV: the candidate the header line uses most (a header always
    has several columns); none at all is refused."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise InputError(
            "no delimiter in the header line",
            source=source,
            line=1,
            fix="Separate the columns with commas, semicolons or tabs",
        )
    return best


def _header(values: list[str], source: str, line: int) -> list[str]:
    """Normalised column names; two columns meaning the same field are refused."""
    header = [_norm_key(h) for h in values]
    seen: dict[str, str] = {}
    for raw, key in zip(values, header, strict=True):
        if key and key in seen:
            raise InputError(
                f"columns {seen[key]!r} and {raw.strip()!r} both give {key}",
                source=source,
                line=line,
                fix="Keep one of them",
            )
        seen[key] = raw.strip()
    return header


def _comment(text: str) -> bool:
    """A CSV line starting with ``#`` is a comment."""
    return text.lstrip().startswith("#")


def _rows_csv(text: str, source: str) -> tuple[list[_Row], set[str], dict[str, tuple[Any, int]]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # old Mac line endings too
    first = next((ln for ln in text.split("\n", 50) if ln.strip() and not _comment(ln)), "")
    delim = _delimiter(first, source)
    reader = csv.reader(io.StringIO(text), delimiter=delim, quotechar='"', strict=True)
    header: list[str] | None = None
    rows: list[_Row] = []
    line = 0
    try:
        for values in reader:
            start, line = line + 1, reader.line_num
            if not any(v.strip() for v in values) or _comment(values[0]):
                continue  # blank, or a comment: `scoreflow cuts` writes a "# why" per row
            if header is None:
                header = _header(values, source, line)
                continue
            _check_row(values, header, source, start, delim)
            fields = {k: (v, start) for k, v in zip(header, values, strict=False) if k}
            rows.append(_Row(start, fields))
            if len(rows) > MAX_ROWS:
                raise InputError(f"more than {MAX_ROWS} scenes", source=source, line=start)
    except csv.Error as exc:
        raise InputError(
            f"unreadable CSV ({exc})",
            source=source,
            line=line + 1,
            fix='Close every quote (a description with a quote inside is written ""like this"")',
        ) from None
    if header is None:
        raise InputError("empty shot list", source=source, fix="Add a header row and scenes")
    return rows, set(header), {}


def _check_row(values: list[str], header: list[str], source: str, line: int, delim: str) -> None:
    """A data row: no more values than columns, one delimiter, no control characters."""
    if len(values) > len(header):
        raise InputError(
            f"{len(values)} values but the header has {len(header)} columns",
            source=source,
            line=line,
            fix="Quote values that contain the delimiter",
        )
    if len(values) < len(header) and len(values) <= 2:
        joined = delim.join(values)
        other = next((d for d in DELIMITERS if d != delim and joined.count(d) >= 2), None)
        if other is not None:
            raise InputError(
                f"this row is separated by {other!r} but the file by {delim!r}",
                source=source,
                line=line,
                fix="Use one delimiter throughout the file",
            )
    for name, value in zip(header, values, strict=False):
        bad = _CONTROL.search(value)
        if bad:
            raise InputError(
                f"control character U+{ord(bad.group()):04X} in the text",
                source=source,
                line=line,
                field=name or None,
                fix="Remove it (the file may be binary or damaged)",
            )


def _yaml_value(node: yaml.Node, source: str) -> Any:
    try:
        return yaml.safe_load(yaml.serialize(node))
    except yaml.YAMLError as exc:  # pragma: no cover - composed nodes re-serialise
        raise InputError(f"unreadable value: {exc}", source=source) from None


def _event_error(event: yaml.Event, message: str, *, source: str, fix: str) -> InputError:
    """A shot-list error at the line of the YAML parser's `event`."""
    line = event.start_mark.line + 1 if event.start_mark else None
    return InputError(message, source=source, line=line, fix=fix)


def _check_nesting(text: str, source: str, kind: str) -> None:
    """Refuse YAML aliases (an alias bomb grows without bound) and nesting deeper than
    `MAX_DEPTH`, by reading the parser's events (no objects are built)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                alias = f"YAML alias *{event.anchor} is not accepted in a shot list"
                fix = "Write each scene's values out in full"
                raise _event_error(event, alias, source=source, fix=fix)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    deep = f"nested deeper than {MAX_DEPTH} levels"
                    fix = "A shot list is a list of flat scene objects"
                    raise _event_error(event, deep, source=source, fix=fix)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # reported, with its place, by the reader itself


def yaml_error(exc: yaml.YAMLError, *, source: str, kind: str) -> InputError:
    """The user's error for a JSON/YAML text the YAML reader refuses, at its line."""
    mark = getattr(exc, "problem_mark", None)
    return InputError(
        f"not valid {kind.upper()}: {getattr(exc, 'problem', exc)}",
        source=source,
        line=mark.line + 1 if mark else None,
    )


def _rows_tree(
    text: str, source: str, kind: str
) -> tuple[list[_Row], set[str], dict[str, tuple[Any, int]]]:
    _check_nesting(text, source, kind)
    if kind == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"not valid JSON: {exc.msg} at column {exc.colno}", source=source, line=exc.lineno
            ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source=source, kind=kind) from None
    if root is None:
        raise InputError("empty shot list", source=source, fix="Add a list of scenes")
    meta: dict[str, tuple[Any, int]] = {}
    if isinstance(root, yaml.MappingNode):
        top = {k.value: v for k, v in root.value}
        for name in ("fps", "rate", "frame_rate", "start_tc", "start_timecode"):
            if name in top:
                key = "start_tc" if name.startswith("start") else "fps"
                meta[key] = (_yaml_value(top[name], source), top[name].start_mark.line + 1)
        if "scenes" not in top:
            raise InputError(
                "expected a list of scenes, or a 'scenes' key holding one",
                source=source,
                line=1,
            )
        root = top["scenes"]
    if not isinstance(root, yaml.SequenceNode):
        raise InputError("expected a list of scenes", source=source, line=root.start_mark.line + 1)
    rows: list[_Row] = []
    columns: set[str] = set()
    for item in root.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise InputError("each scene must be an object of fields", source=source, line=line)
        fields = {
            _norm_key(k.value): (_yaml_value(v, source), v.start_mark.line + 1)
            for k, v in item.value
        }
        columns |= set(fields)
        rows.append(_Row(line, fields))
    if not rows:
        raise InputError("empty shot list: no scenes", source=source)
    return rows, columns, meta


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _scene_id(row: _Row, source: str) -> str:
    """The row's scene id: present, at most `MAX_ID` printable characters, not a path."""
    f = row.fields
    sid = _text(f["scene"][0]) if "scene" in f else ""
    scene_line = f["scene"][1] if "scene" in f else row.line
    if not sid:
        raise InputError(
            "empty scene id",
            source=source,
            line=scene_line,
            field="scene",
            fix="Give every scene an id",
        )
    if len(sid) > MAX_ID or _CONTROL.search(sid) or sid in (".", ".."):
        raise InputError(
            f"scene id of {len(sid)} characters" if len(sid) > MAX_ID else "unusable scene id",
            source=source,
            line=scene_line,
            field="scene",
            value=sid[:40] + ("..." if len(sid) > 40 else ""),
            fix=f"Use at most {MAX_ID} printable characters (they name the cue's files)",
        )
    return sid


@dataclass
class _RowReader:
    """One row's fields read for its scene `sid`: each value checked, each error located
    at its file, line, scene and field."""

    row: _Row
    sid: str
    rate: Fraction
    drop: bool
    source: str
    tc_start: int

    def text(self, name: str) -> str:
        """The field's text, stripped; empty when the row lacks it."""
        return _text(self.row.fields.get(name, ("", 0))[0])

    def fail(self, exc: InputError, name: str) -> InputError:
        """`exc` located at field `name` of this row."""
        line = self.row.fields[name][1]
        return exc.located(source=self.source, line=line, scene=self.sid, field=name)

    def missing(self, message: str, name: str, fix: str) -> InputError:
        """A field the row needs and lacks, located at the row's line."""
        return InputError(
            message, source=self.source, line=self.row.line, scene=self.sid, field=name, fix=fix
        )

    def frame(self, value: Any, name: str, *, programme: bool = True) -> int:
        """A timecode (or programme frame from a cut) as a frame of the video."""
        rate, drop = self.rate, self.drop
        if isinstance(value, int) and not isinstance(value, bool):
            at = value
        else:
            try:
                at = parse_timecode(_text(value), rate, drop_frame=drop or None)
            except InputError as exc:
                raise self.fail(exc, name) from None
        if not programme:
            return at
        if at < self.tc_start:
            start_tc = format_timecode(self.tc_start, rate, drop_frame=drop)
            raise self.fail(
                InputError(
                    f"before the programme start {start_tc}",
                    value=format_timecode(at, rate, drop_frame=drop),
                    fix="Give the programme's start timecode with --start-tc",
                ),
                name,
            )
        return at - self.tc_start

    def tc(self, name: str) -> int:
        """A required timecode field as a frame (a duration as a count of frames)."""
        if not self.text(name):
            raise self.missing(
                f"no {name} in this row",
                name,
                "Give every scene its in point (a short row? check the delimiters)",
            )
        return self.frame(self.row.fields[name][0], name, programme=name != "duration")

    def number(self, name: str, lo: float, hi: float, kind: type = float) -> Any:
        """An optional number within [lo, hi], or None."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = kind(raw)
        except ValueError:
            raise self.fail(InputError(f"expected a {kind.__name__}", value=raw), name) from None
        if not lo <= value <= hi:
            raise self.fail(InputError(f"must be between {lo} and {hi}", value=raw), name)
        return value

    def flag(self, name: str) -> bool | None:
        """An optional yes/no field, or None."""
        word = self.text(name).lower()
        if not word:
            return None
        if word not in _TRUE | _FALSE:
            raise self.fail(InputError("expected yes/no, true/false or on/off", value=word), name)
        return word in _TRUE

    def choice(self, name: str, word: str, *, known: Any, what: str, fix: str) -> None:
        """Refuse `word` of field `name` unless `known` holds it."""
        if word not in known:
            raise self.fail(InputError(what, value=word, fix=fix), name)

    def span(self) -> tuple[int, int]:
        """The scene's first frame and the frame after its last: tc_in, and tc_out or a
        duration."""
        f = self.row.fields
        start = self.tc("tc_in")
        if self.text("tc_out"):
            end = self.tc("tc_out")
            if end <= start:
                raise InputError(
                    "the out point is not after the in point",
                    source=self.source,
                    line=f["tc_out"][1],
                    scene=self.sid,
                    field="tc_out",
                    value=self.text("tc_out"),
                    fix=f"tc_out must be later than tc_in {self.text('tc_in')}",
                )
        elif self.text("duration"):
            length = self.tc("duration")
            if length <= 0:
                raise self.fail(
                    InputError("duration must be positive", value=f["duration"][0]), "duration"
                )
            end = start + length
        else:
            raise self.missing(
                "missing out point", "tc_out", "Give tc_out (or out/end) or a duration"
            )
        return start, end

    def key(self) -> str:
        """The key as written ('D minor', 'F#m'), or empty."""
        key = self.text("key")
        if key and not _KEY.match(key):
            fix = "Write e.g. 'D minor', 'F#m', 'Bb major'"
            raise self.fail(InputError("not a key", value=key, fix=fix), "key")
        return key

    def hits(self, start: int, end: int) -> list[int]:
        """The hit points as frames of the video, each inside [start, end)."""
        hits: list[int] = []
        raw = self.row.fields.get("hits", ("", 0))[0]
        words = raw if isinstance(raw, list) else _text(raw).replace(",", " ").split()
        for word in words:
            at = self.frame(word, "hits")
            if not start <= at < end:
                first = format_timecode(start + self.tc_start, self.rate)
                fix = f"Hits must lie within {first} and the scene's out point"
                raise self.fail(
                    InputError("hit point outside its scene", value=word, fix=fix), "hits"
                )
            hits.append(at)
        return hits

    def transition(self) -> str | None:
        """The transition into the scene (cut, crossfade, fade), or None."""
        if not self.text("transition"):
            return None
        word = self.text("transition").lower()
        fix = "Use cut, crossfade or fade"
        self.choice("transition", word, known=TRANSITIONS, what="unknown transition", fix=fix)
        return TRANSITIONS[word]

    def usage(self) -> str:
        """The cue-sheet usage code, BI unless given."""
        usage = self.text("usage").upper() or "BI"
        fix = (
            "Use BI (background instrumental), BV, VI (visual instrumental), VV, MT "
            "(main title) or ET (end title)"
        )
        self.choice("usage", usage, known=USAGES, what="unknown cue-sheet usage", fix=fix)
        return usage

    def theme(self) -> str:
        """The recurring theme's name, or empty."""
        theme = self.text("theme").lower()
        if theme and not _THEME.match(theme):
            fix = (
                "Name a recurring theme with letters, digits, - or _ (e.g. hero), "
                "at most 40 characters"
            )
            raise self.fail(InputError("not a theme name", value=theme, fix=fix), "theme")
        return theme

    def lower_or_none(self, name: str) -> str | None:
        """A free word field in lower case, or None when empty."""
        return self.text(name).lower() or None


def _parse_row(row: _Row, *, rate: Fraction, drop: bool, source: str, tc_start: int) -> Scene:
    """One row as a `Scene`, its fields checked in a fixed order (the first problem is the
    one reported)."""
    sid = _scene_id(row, source)
    r = _RowReader(row, sid, rate=rate, drop=drop, source=source, tc_start=tc_start)
    start, end = r.span()
    music = r.flag("music") is not False
    key = r.key()
    hits = r.hits(start, end)
    transition = r.transition()
    usage = r.usage()
    theme = r.theme()
    instruments = tuple(
        w.strip().lower() for w in re.split(r"[,;/+]", r.text("instruments")) if w.strip()
    )
    return Scene(
        id=sid,
        start_frame=start,
        end_frame=end,
        rate=rate,
        description=r.text("description"),
        genre=r.lower_or_none("genre"),
        mood=r.lower_or_none("mood"),
        curve=r.lower_or_none("curve"),
        tempo_bpm=r.number("tempo_bpm", 20, 300),
        key=key or None,
        instruments=instruments,
        intensity=r.number("intensity", 0.0, 1.0),
        music=music,
        seed=r.number("seed", 0, 2**32 - 1, int),
        hits=tuple(sorted(set(hits))),
        drop_frame=drop,
        origin=row.origin or f"{source}:{row.line}",
        tc_start=tc_start,
        transition=transition,
        transition_s=r.number("transition_s", 0.0, 10.0),
        usage=usage,
        dialogue=r.flag("dialogue"),
        theme=theme or None,
    )


def format_of(path: Path, suffixes: dict[str, str], *, what: str) -> str:
    """The reader `path`'s suffix picks from `suffixes`; an unknown one is the user's error."""
    kind = suffixes.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"unsupported {what} format",
            source=str(path),
            value=path.suffix,
            fix=f"Use {', '.join(suffixes)}",
        )
    return kind


def read_shotlist(
    path: str | Path,
    *,
    fps: str | Fraction | None = None,
    media: MediaInfo | None = None,
    start_tc: str | None = None,
) -> list[Scene]:
    """Read a shot list or a cut and return its scenes in timeline order.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``, ``.json``, ``.yaml``/``.yml``, or a cut: ``.edl`` (CMX3600),
        ``.xml`` (FCP 7), ``.fcpxml`` or ``.otio``.
    fps : str or Fraction, optional
        Frame rate (``"29.97"``, ``"24000/1001"``); else the file's, else the video's.
    media : MediaInfo, optional
        The video: its rate must match, and no scene may run past its end.
    start_tc : str, optional
        Timecode of the video's first frame (``"01:00:00:00"``); else the video's own
        timecode, else the file's (a cut's start, a JSON/YAML ``start_tc``), else zero.

    Raises
    ------
    InputError
        With file, line, scene, field and value of the first problem found.
    """
    path = Path(path)
    source = str(path)
    kind = format_of(path, SUFFIXES, what="shot list")
    file_start: int | str | None = None
    if kind == "cut":
        want = parse_rate(fps) if fps is not None else (media.rate if media else None)
        cut = interchange.read_cut(path, rate=want)
        rows = [
            _Row(r.line, {_norm_key(k): (v, r.line) for k, v in r.fields.items()}, r.origin)
            for r in cut.rows
        ]
        rate, drop, file_start = cut.rate, cut.drop_frame, cut.start_frame
        rate_from = "--fps" if fps is not None else source
    else:
        rows, meta = _read_rows(path, kind, source)
        rate, rate_from = _rate(fps, meta.get("fps"), media, source)
        drop = any(
            ";" in _text(r.fields[k][0])
            for r in rows
            for k in ("tc_in", "tc_out", "duration")
            if k in r.fields
        )
        if "start_tc" in meta:
            file_start = _text(meta["start_tc"][0])
    if media is not None and media.rate != rate:
        raise InputError(
            f"frame rate {rate_name(rate)} (from {rate_from}) does not match the video's "
            f"{rate_name(media.rate)}",
            source=source,
            field="fps",
            fix=f"Use --fps {rate_name(media.rate)}, or conform the shot list",
        )
    for given, where in (
        (start_tc, "--start-tc"),
        (media.start_tc if media else None, media.path if media else ""),
        (file_start, source),
    ):
        if given is not None:
            try:
                tc0 = given if isinstance(given, int) else parse_timecode(given, rate)
            except InputError as exc:
                raise exc.located(source=where, field="start_tc") from None
            break
    else:
        tc0 = 0
    scenes = [_parse_row(r, rate=rate, drop=drop, source=source, tc_start=tc0) for r in rows]
    return _validate(scenes, source=source, media=media)


def _read_rows(path: Path, kind: str, source: str) -> tuple[list[_Row], dict[str, tuple[Any, int]]]:
    regular_file(path, what="shot list", max_bytes=MAX_SHOTLIST_BYTES)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read shot list: {exc.strerror}", source=source) from None
    if not data.strip():
        raise InputError("empty shot list", source=source, fix="Add a header row and scenes")
    text = _decode(data, source)
    rows, columns, meta = (
        _rows_csv(text, source) if kind == "csv" else _rows_tree(text, source, kind)
    )
    missing = [c for c in REQUIRED if c not in columns]
    if "tc_out" not in columns and "duration" not in columns:
        missing.append("tc_out")
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}",
            source=source,
            line=1,
            fix=(
                "A shot list needs scene, tc_in, tc_out (or duration) and description; "
                f"found {', '.join(sorted(columns)) or 'none'}"
            ),
        )
    if not rows:
        raise InputError("empty shot list: no scenes", source=source)
    return rows, meta


def _rate(
    fps: str | Fraction | None,
    file_fps: tuple[Any, int] | None,
    media: MediaInfo | None,
    source: str,
) -> tuple[Fraction, str]:
    """The frame rate and where it came from: --fps, the file's fps, the video."""
    if fps is not None:
        return parse_rate(fps), "--fps"
    if file_fps is not None:
        try:
            return parse_rate(file_fps[0]), f"{source}:{file_fps[1]}"
        except InputError as exc:
            raise exc.located(source=source, line=file_fps[1], field="fps") from None
    if media is not None:
        return media.rate, media.path
    raise InputError(
        "no frame rate",
        source=source,
        fix="Pass --fps (e.g. --fps 23.976), add an fps field, or give the video",
    )


def _scene_error(
    s: Scene, message: str, *, source: str, field: str, fix: str, value: object = None
) -> InputError:
    """An error in scene `s` as a whole, at its line."""
    line = s.where()[1]
    return InputError(
        message, source=source, line=line, scene=s.id, field=field, value=value, fix=fix
    )


def _validate(scenes: list[Scene], *, source: str, media: MediaInfo | None) -> list[Scene]:
    """Unique ids, no overlaps, nothing past the video's end; returns timeline order."""
    seen: dict[str, Scene] = {}
    for s in scenes:
        if s.id in seen:
            first = f"duplicate scene id (first at {seen[s.id].origin})"
            fix = "Scene ids must be unique"
            raise _scene_error(s, first, source=source, field="scene", fix=fix)
        seen[s.id] = s
    ordered = sorted(scenes, key=lambda s: s.start_frame)
    for a, b in itertools.pairwise(ordered):
        if b.start_frame < a.end_frame:
            overlap = f"scene overlaps scene {a.id!r} ({a.tc_in}-{a.tc_out}, {a.origin})"
            fix = f"Start it at or after {a.tc_out}"
            raise _scene_error(b, overlap, source=source, field="tc_in", value=b.tc_in, fix=fix)
    if media is not None:
        for s in ordered:
            if s.end_frame > media.frames:
                end_tc = s.timecode(media.frames)
                start = s.timecode(0)
                raise _scene_error(
                    s,
                    f"scene runs past the end of the video ({end_tc}, {media.frames} frames; "
                    f"programme start {start})",
                    source=source,
                    field="tc_out",
                    value=s.tc_out,
                    fix=f"End it at or before {end_tc}, or give the programme's start "
                    "timecode with --start-tc (e.g. 01:00:00:00)",
                )
    return ordered
