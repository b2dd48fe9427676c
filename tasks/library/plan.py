"""Read a music library's brief: the tracks to make and the versions to deliver of each.

A brief (TOML, YAML or CSV) is a list of track briefs, a grid (``genres x moods x tempi``
with ``count`` tracks per cell), or both, with the library's delivery spec. In TOML and
YAML::

    [library]                 # name, artist, seed
    [delivery]                # any key of [library] in config/defaults.toml
    [grid]                    # genres, moods, tempi, count, description, intensity, ...
    [[tracks]]                # title, description, genre, mood, tempo_bpm, key,
                              # instruments, intensity, curve, seed, count, main_s, id

A CSV is one track brief a row (the same columns); its delivery spec comes from the
config. Every error names the file, the line (CSV, YAML) or entry, the field, the value
and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from scoreflow.config.settings import Settings
from scoreflow.tasks.cloud.storage import regular_file
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange.shotlist import (
    MAX_ID,
    MAX_SHOTLIST_BYTES,
    _check_nesting,
    _decode,
    _rows_csv,
    format_of,
    yaml_error,
)
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.seeds import derive_seed
from scoreflow.tasks.timeline.model import Brief, Scene

TRACK_FIELDS = (
    "id",
    "title",
    "description",
    "genre",
    "mood",
    "tempo_bpm",
    "key",
    "instruments",
    "intensity",
    "curve",
    "seed",
    "count",
    "main_s",
)
ALIASES = {"prompt": "description", "bpm": "tempo_bpm", "tempo": "tempo_bpm", "name": "title"}
GRID_FIELDS = (
    "genres",
    "moods",
    "tempi",
    "count",
    "description",
    "intensity",
    "curve",
    "instruments",
    "key",
)
VERSION_KINDS = ("main", "cutdowns", "sting", "loops", "alternates", "stems")
ALTERNATES = {  # alternate mix -> the stems it sums
    "underscore": ("harmony", "bass", "fx"),
    "no-drums": ("bass", "harmony", "melody", "fx"),
    "sparse": ("drums", "bass", "harmony", "fx"),
}
FORMATS = ("wav", "mp3")
MAX_TRACKS = 10_000
SUFFIXES = {
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "yaml",
    ".csv": "csv",
    ".tsv": "csv",
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Delivery:
    """What a library delivers of every track (``[library]`` in the config, ``[delivery]``
    in a brief)."""

    name: str
    artist: str
    main_s: tuple[float, float]
    cutdowns_s: tuple[float, ...]
    sting_s: float
    loops_bars: tuple[int, ...]
    alternates: tuple[str, ...]
    stems: bool
    formats: tuple[str, ...]
    target_lufs: float
    true_peak_dbtp: float
    mp3_kbps: int
    similarity_max: float
    max_tries: int

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class TrackSpec:
    """One track of the plan: its id (the catalogue's slot), what defines its music, and
    where it came from (for messages)."""

    id: str
    title: str
    brief: Brief
    seed: int
    main_s: float
    origin: str
    keywords: tuple[str, ...] = ()

    def definition(self) -> dict[str, Any]:
        """What defines the track's music (its cache key is built from this)."""
        brief = {k: v for k, v in self.brief.to_dict().items() if k != "reading"}
        return {"brief": brief, "seed": self.seed, "main_s": self.main_s}


@dataclass
class LibraryPlan:
    source: str
    delivery: Delivery
    seed: int
    tracks: list[TrackSpec] = field(default_factory=list)

    def versions(self) -> list[str]:
        """The version names every composed track gets, in catalogue order."""
        d = self.delivery
        names = ["main", *(f"{_secs(s)}s" for s in d.cutdowns_s)]
        names += ["sting"] if d.sting_s else []
        names += [f"loop-{n}" for n in d.loops_bars]
        return names + list(d.alternates)


def _secs(seconds: float) -> str:
    return f"{seconds:g}"


def _bad(
    message: str,
    *,
    source: str,
    where: str | int | None,
    field: str | None = None,
    value: Any = None,
    fix: str | None = None,
) -> InputError:
    line = where if isinstance(where, int) else None
    text = message if isinstance(where, int) or where is None else f"{where}: {message}"
    return InputError(text, source=source, line=line, field=field, value=value, fix=fix)


# -- the delivery spec -----------------------------------------------------------------------
def delivery(spec: dict[str, Any], *, source: str, where: str = "delivery") -> Delivery:
    """A validated `Delivery` from the merged ``[library]`` settings."""

    def bad(key: str, value: Any, fix: str) -> InputError:
        return _bad(
            "invalid delivery setting", source=source, where=where, field=key, value=value, fix=fix
        )

    def number(key: str, lo: float, hi: float) -> float:
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise bad(key, value, f"A number from {lo:g} to {hi:g}")
        return float(value)

    def numbers(key: str, lo: float, hi: float, *, whole: bool = False) -> tuple[Any, ...]:
        value = spec[key]
        if not isinstance(value, list) or len(set(map(str, value))) != len(value):
            raise bad(key, value, "A list of distinct values, e.g. [60, 30, 15]")
        for v in value:
            ok = isinstance(v, int) if whole else isinstance(v, int | float)
            if isinstance(v, bool) or not ok or not lo <= v <= hi:
                kind = "whole numbers" if whole else "numbers"
                raise bad(key, v, f"Use {kind} from {lo:g} to {hi:g}")
        return tuple(int(v) if whole else float(v) for v in value)

    def words(key: str, known: tuple[str, ...]) -> tuple[str, ...]:
        value = spec[key]
        if not isinstance(value, list) or any(v not in known for v in value):
            raise bad(key, value, f"A list of {', '.join(known)}")
        return tuple(value)

    main = spec["main_s"]
    if isinstance(main, int | float) and not isinstance(main, bool):
        main = [main, main]
    if not (
        isinstance(main, list)
        and len(main) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in main)
        and 20 <= main[0] <= main[1] <= 900
    ):
        raise bad("main_s", spec["main_s"], "Seconds, or [shortest, longest], within 20-900")
    for key in ("name", "artist"):
        if not isinstance(spec[key], str) or len(spec[key]) > 200:
            raise bad(key, spec[key], "Text of at most 200 characters")
    if not isinstance(spec["stems"], bool):
        raise bad("stems", spec["stems"], "true or false")
    cutdowns = numbers("cutdowns_s", 3, 600)
    if any(c >= main[0] for c in cutdowns):
        raise bad(
            "cutdowns_s", list(cutdowns), f"Cutdowns must be shorter than the main ({main[0]:g} s)"
        )
    formats = words("formats", FORMATS)
    if not formats:
        raise bad("formats", [], f"At least one of {', '.join(FORMATS)}")
    return Delivery(
        name=spec["name"] or "scoreflow library",
        artist=spec["artist"],
        main_s=(float(main[0]), float(main[1])),
        cutdowns_s=cutdowns,
        sting_s=number("sting_s", 0, 5),
        loops_bars=numbers("loops_bars", 1, 64, whole=True),
        alternates=words("alternates", tuple(ALTERNATES)),
        stems=spec["stems"],
        formats=formats,
        target_lufs=number("target_lufs", -36, -6),
        true_peak_dbtp=number("true_peak_dbtp", -9, 0),
        mp3_kbps=int(number("mp3_kbps", 96, 320)),
        similarity_max=number("similarity_max", 0.05, 1.0),
        max_tries=int(number("max_tries", 1, 20)),
    )


# -- reading -----------------------------------------------------------------------------------
def read_brief(
    path: str | Path,
    *,
    cfg: Settings,
    vocab: dict[str, Any],
    tracks: int | None = None,
    seed: int | None = None,
) -> LibraryPlan:
    """Read and validate a library brief into the plan of its tracks.

    Parameters
    ----------
    cfg : Settings
        The run's settings; its ``[library]`` is the delivery spec a brief's
        ``[delivery]`` overrides.
    tracks : int, optional
        How many tracks: the brief's entries (and grid cells) are cycled, each round with
        new seeds, until there are this many (default: each entry's ``count``).
    seed : int, optional
        The library's seed (default: the brief's ``library.seed``, else
        ``pipeline.seed``).

    Raises
    ------
    InputError
        Naming the file, the line or entry, the field, the value and the fix.
    """
    path = Path(path)
    source = str(path)
    top, entries = _read_entries(path, source)
    plan = _plan(top, source, cfg=cfg, seed=seed)
    if "grid" in top:
        entries += _grid_entries(top["grid"], source)
    if not entries:
        raise _bad(
            "no tracks in the brief",
            source=source,
            where=None,
            fix="Give [[tracks]] (title, description ...) or a [grid] of genres x moods",
        )
    if tracks is not None and not 1 <= tracks <= MAX_TRACKS:
        raise InputError(f"must be 1 to {MAX_TRACKS}", field="--tracks", value=tracks)
    plan.tracks = _expand(entries, plan, vocab=vocab, tracks=tracks)
    return plan


def _read_entries(path: Path, source: str) -> tuple[dict[str, Any], list[_Entry]]:
    """The brief's top-level tables and its track entries (not yet its grid's), its
    sections checked."""
    kind = format_of(path, SUFFIXES, what="library brief")
    regular_file(path, what="library brief", max_bytes=MAX_SHOTLIST_BYTES)
    try:
        text = _decode(path.read_bytes(), source)
    except OSError as exc:
        raise InputError(f"cannot read the brief: {exc.strerror}", source=source) from None
    if not text.strip():
        raise InputError(
            "empty library brief",
            source=source,
            fix="Give [[tracks]] or a [grid] (see examples/library.toml)",
        )
    top, entries = _read_tree(text, source, kind) if kind != "csv" else _read_csv(text, source)
    unknown = set(top) - {"library", "delivery", "grid", "tracks"}
    if unknown:
        key = sorted(unknown)[0]
        raise _bad(
            "unknown section",
            source=source,
            where=None,
            field=key,
            value=key,
            fix="A brief has [library], [delivery], [grid] and [[tracks]]",
        )
    return top, entries


def _plan(top: dict[str, Any], source: str, *, cfg: Settings, seed: int | None) -> LibraryPlan:
    """The plan without its tracks: the delivery spec (the config's ``[library]`` under the
    brief's ``[library]`` name and artist and its ``[delivery]``) and the library's seed."""
    lib = _table(top.get("library", {}), source, "library", ("name", "artist", "seed"))
    spec = cfg.library.model_dump()
    given = _table(top.get("delivery", {}), source, "delivery", tuple(spec))
    spec.update({k: v for k, v in lib.items() if k in ("name", "artist")}, **given)
    plan_seed = seed if seed is not None else lib.get("seed", cfg.pipeline.seed)
    if isinstance(plan_seed, bool) or not isinstance(plan_seed, int) or not 0 <= plan_seed < 2**32:
        raise _bad(
            "not a seed",
            source=source,
            where="library",
            field="seed",
            value=plan_seed,
            fix="A whole number from 0 to 4294967295",
        )
    return LibraryPlan(source, delivery(spec, source=source), plan_seed)


@dataclass
class _Entry:
    fields: dict[str, Any]
    where: str | int  # an entry name ("tracks[3]", "grid cell rock x tense") or a CSV line
    grid: bool = False


def _table(value: Any, source: str, name: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("expected a table of settings", source=source, where=name, value=value)
    for key in value:
        if key not in known:
            raise _bad(
                "unknown setting",
                source=source,
                where=name,
                field=str(key),
                value=value[key],
                fix=f"Use {', '.join(known)}",
            )
    return value


def _read_tree(text: str, source: str, kind: str) -> tuple[dict[str, Any], list[_Entry]]:
    if kind == "toml":
        try:
            top = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML: {exc}", source=source) from None
        lines: list[int | None] = [None] * len(top.get("tracks", []) or [])
    else:
        _check_nesting(text, source, kind)
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            top = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise yaml_error(exc, source=source, kind=kind) from None
        if not isinstance(top, dict):
            raise InputError("expected a mapping with tracks and/or grid", source=source, line=1)
        lines = []
        if isinstance(root, yaml.MappingNode):
            for k, v in root.value:
                if k.value == "tracks" and isinstance(v, yaml.SequenceNode):
                    lines = [item.start_mark.line + 1 for item in v.value]
    raw = top.get("tracks", [])
    if not isinstance(raw, list):
        raise _bad("expected a list of track briefs", source=source, where="tracks", value=raw)
    entries = []
    for i, item in enumerate(raw):
        line = lines[i] if i < len(lines) else None
        where: str | int = line if line else f"tracks[{i + 1}]"
        if not isinstance(item, dict):
            raise _bad(
                "each track brief must be a table of fields", source=source, where=where, value=item
            )
        entries.append(_Entry({str(k): v for k, v in item.items()}, where))
    return top, entries


def _read_csv(text: str, source: str) -> tuple[dict[str, Any], list[_Entry]]:
    rows, _, _ = _rows_csv(text, source)
    entries = [
        _Entry({k: v for k, (v, _) in row.fields.items() if str(v).strip()}, row.line)
        for row in rows
    ]
    return {}, entries


def _grid_entries(grid: Any, source: str) -> list[_Entry]:
    grid = _table(grid, source, "grid", GRID_FIELDS)
    axes = {}
    for axis in ("genres", "moods", "tempi"):
        value = grid.get(axis, [])
        if not isinstance(value, list) or (axis != "tempi" and not value and axis == "genres"):
            raise _bad(
                "expected a non-empty list",
                source=source,
                where="grid",
                field=axis,
                value=value,
                fix='e.g. genres = ["cinematic", "rock"]',
            )
        axes[axis] = value or [None]
    common = {
        k: grid[k]
        for k in ("count", "description", "intensity", "curve", "instruments", "key")
        if k in grid
    }
    entries = []
    for g in axes["genres"]:
        for m in axes["moods"]:
            for t in axes["tempi"]:
                cell = {
                    "genre": g,
                    **({"mood": m} if m is not None else {}),
                    **({"tempo_bpm": t} if t is not None else {}),
                    **common,
                }
                name = " x ".join(str(v) for v in (g, m, t) if v is not None)
                entries.append(_Entry(cell, f"grid cell {name}", grid=True))
    return entries


def _expand(
    entries: list[_Entry], plan: LibraryPlan, *, vocab: dict[str, Any], tracks: int | None
) -> list[TrackSpec]:
    """Every entry's tracks (``count`` each), cycled to `tracks` when given."""
    source = plan.source
    parsed = [_parse_entry(e, i, source=source) for i, e in enumerate(entries)]
    slots: list[tuple[int, int]] = []  # (entry, repetition)
    if tracks is None:
        slots = [(i, k) for i, p in enumerate(parsed) for k in range(p["count"])]
    else:
        k = 0
        while len(slots) < tracks:
            slots += [(i, k) for i in range(len(parsed))][: tracks - len(slots)]
            k += 1
    if len(slots) > MAX_TRACKS:
        raise InputError(f"more than {MAX_TRACKS} tracks", source=source, field="count")
    out: list[TrackSpec] = []
    seen_ids: set[str] = set()
    seen_titles: dict[str, str] = {}
    for i, k in slots:
        p, entry = parsed[i], entries[i]
        base = p["id"] or (_slug(entry) if entry.grid else f"t{i + 1:03d}")
        track_id = base if p["id"] and k == 0 else f"{base}-{k + 1:02d}"
        if track_id in seen_ids:
            raise _bad(
                "two tracks with one id",
                source=source,
                where=entry.where,
                field="id",
                value=track_id,
                fix="Give every track brief its own id",
            )
        seen_ids.add(track_id)
        title = p["title"] if k == 0 else (f"{p['title']} {k + 1}" if p["title"] else "")
        if title and title.lower() in seen_titles:
            raise _bad(
                "two tracks with one title",
                source=source,
                where=entry.where,
                field="title",
                value=title,
                fix=f"Titles are unique in a catalogue (also at {seen_titles[title.lower()]})",
            )
        if title:
            seen_titles[title.lower()] = str(entry.where)
        seed = (p["seed"] + k) if p["seed"] is not None else derive_seed(plan.seed, track_id)
        main_s = p["main_s"] or _main_length(plan.delivery.main_s, seed)
        scene = Scene(
            id=track_id,
            start_frame=0,
            end_frame=round(main_s * 1000),
            rate=Fraction(1000),
            description=p["description"],
            genre=p["genre"],
            mood=p["mood"],
            tempo_bpm=p["tempo_bpm"],
            key=p["key"],
            instruments=p["instruments"],
            intensity=p["intensity"],
            curve=p["curve"],
            seed=seed,
            origin=f"{source}:{entry.where}" if isinstance(entry.where, int) else source,
        )
        try:
            brief = make_brief(scene, vocab=vocab)
        except InputError as exc:
            raise _relocate(exc, source, entry.where) from None
        if p["curve"] is None and not any(w.startswith("energy") for _, w in brief.reading):
            brief = _with_curve(brief, "swells")  # a library main builds to a climax
        words = [w.lower() for w, _ in brief.reading] + [brief.genre, brief.mood, brief.curve]
        keywords = tuple(dict.fromkeys(w for w in words if w))
        out.append(TrackSpec(track_id, title, brief, seed, main_s, str(entry.where), keywords))
    return out


def _with_curve(brief: Brief, curve: str) -> Brief:
    from dataclasses import replace

    return replace(brief, curve=curve)


def _relocate(exc: InputError, source: str, where: str | int) -> InputError:
    if isinstance(where, int):
        return InputError(
            exc.message, source=source, line=where, field=exc.field, value=exc.value, fix=exc.fix
        )
    return InputError(
        f"{where}: {exc.message}", source=source, field=exc.field, value=exc.value, fix=exc.fix
    )


def _slug(entry: _Entry) -> str:
    parts = [entry.fields.get(k) for k in ("genre", "mood", "tempo_bpm")]
    return "-".join(re.sub(r"[^a-z0-9]+", "", str(p).lower()) for p in parts if p is not None)


def _main_length(span: tuple[float, float], seed: int) -> float:
    lo, hi = span
    return round(lo + (hi - lo) * ((seed % 1000) / 999), 1)


def _parse_entry(entry: _Entry, index: int, *, source: str) -> dict[str, Any]:
    f = {
        ALIASES.get(str(k).strip().lower(), str(k).strip().lower()): v
        for k, v in entry.fields.items()
    }
    where = entry.where

    def bad(message: str, key: str, value: Any, fix: str) -> InputError:
        return _bad(message, source=source, where=where, field=key, value=value, fix=fix)

    for key in f:
        if key not in TRACK_FIELDS:
            raise bad("unknown field", key, f[key], f"Use {', '.join(TRACK_FIELDS)}")

    def text(key: str, limit: int = 2000) -> str:
        value = f.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise bad("expected text", key, value, "Write it as plain text")
        value = str(value).strip()
        if len(value) > limit:
            raise bad(f"longer than {limit} characters", key, value[:40] + "...", "Shorten it")
        return value

    def number(key: str, lo: float, hi: float, *, whole: bool = False) -> Any:
        value = f.get(key)
        if value is None or value == "":
            return None
        try:
            got = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            got = None
        if got is None or got != got or not lo <= got <= hi or (whole and got != int(got)):
            kind = "a whole number" if whole else "a number"
            raise bad(
                f"expected {kind} from {lo:g} to {hi:g}",
                key,
                value,
                f"Give {key} as {kind} from {lo:g} to {hi:g}",
            )
        return int(got) if whole else got

    ident = text("id", MAX_ID)
    if ident and not _ID.match(ident):
        raise bad(
            "unusable track id", "id", ident, "Letters, digits, '.', '_' and '-' (it names files)"
        )
    raw_inst = f.get("instruments", "")
    if isinstance(raw_inst, list):
        instruments = tuple(str(v).strip().lower() for v in raw_inst if str(v).strip())
    else:
        instruments = tuple(
            w.strip().lower() for w in re.split(r"[,;/+]", text("instruments")) if w.strip()
        )
    description = text("description")
    if not description and not f.get("genre"):
        raise bad(
            "a track brief needs a description or a genre",
            "description",
            None,
            "Describe the track in words, e.g. 'warm acoustic morning, hopeful'",
        )
    count = number("count", 1, MAX_TRACKS, whole=True)
    return {
        "id": ident,
        "title": text("title", 120),
        "description": description,
        "genre": text("genre").lower() or None,
        "mood": text("mood").lower() or None,
        "tempo_bpm": number("tempo_bpm", 40, 220),
        "key": text("key") or None,
        "instruments": instruments,
        "intensity": number("intensity", 0, 1),
        "curve": text("curve").lower() or None,
        "seed": number("seed", 0, 2**32 - 1, whole=True),
        "count": 1 if count is None else count,
        "main_s": number("main_s", 20, 900),
    }
