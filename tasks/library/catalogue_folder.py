"""The catalogue folder (or ``s3://`` prefix) a library run grows: the catalogue already
there, a made track's files placed into the run's stage with its catalogue entry, the
catalogue files written, and the stage switched into the folder.

Plain functions, no Prefect: `flows/library.py` calls them around its track tasks.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from scoreflow.tasks.cloud import storage
from scoreflow.tasks.delivery.outdir import RunFolder
from scoreflow.tasks.errors import InputError, StorageError
from scoreflow.tasks.library import catalogue_index
from scoreflow.tasks.library.plan import TrackSpec

CATALOGUE_FILES = ("catalog.csv", "index.html", "catalog.json")  # in this order: json last


def read_catalogue(out: str) -> dict[str, Any]:
    """The catalogue already at `out` (an empty one where there is none).

    Raises
    ------
    StorageError
        When a catalogue is there but cannot be read.
    """
    try:
        data = (
            storage.get_json(storage.S3Uri.parse(out).join("catalog.json"))
            if storage.is_remote(out)
            else (
                json.loads((Path(out) / "catalog.json").read_text())
                if (Path(out) / "catalog.json").is_file()
                else None
            )
        )
    except InputError:
        data = None
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the catalogue at {out}: {exc}") from None
    return data or {"tracks": []}


def held_features(out: str, existing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The features (``tracks/<id>/features.json``) of every track in the catalogue
    `existing` at `out` whose file is there, by track id."""
    feats: dict[str, dict[str, Any]] = {}
    for t in existing["tracks"]:
        path = _held_file(out, t.get("features", ""))
        if path is not None:
            feats[t["id"]] = json.loads(path.read_text())
    return feats


def _held_file(out: str, rel: str) -> Path | None:
    if not rel:
        return None
    if storage.is_remote(out):
        try:
            uri = str(storage.S3Uri.parse(out).join(rel))
            return storage.fetch(uri, storage.work_dir(), what="catalogue file")
        except InputError:
            return None
    path = Path(out) / rel
    return path if path.is_file() else None


def place_track(
    record: dict[str, Any],
    spec: TrackSpec,
    stage: Path,
    names: list[str],
    *,
    brief: str,
    first_key: str,
    figures: dict[str, float],
    nearest: str | None,
    tries: int,
    d_max: float,
) -> dict[str, Any]:
    """Link (or copy) a track's files from the cache into the stage, adding their paths
    to `names`; its catalogue entry.

    Parameters
    ----------
    record : dict
        What the track task returned (its ``folder`` in the cache, its rows ...).
    figures, nearest, tries
        How like the nearest earlier track it is, which that is, how many tries it took.
    d_max : float
        The most likeness the delivery allows.
    """
    extra = [f"tracks/{spec.id}/features.json", f"tracks/{spec.id}/{spec.id}_waveform.svg"]
    names.extend(_link_files(record, stage, extra))
    return {
        "id": spec.id,
        "title": record["title"],
        "genre": spec.brief.genre,
        "mood": spec.brief.mood,
        "bpm": record["bpm"],
        "key": record["key"],
        "instruments": record["instruments"],
        "keywords": list(spec.keywords),
        "seed": record["seed"],
        "first_key": first_key,
        "key_of_files": record["key"],
        "backend": record["backend"],
        "model": record["model"],
        "licence": record["licence"],
        "brief": Path(brief).name,
        "origin": spec.origin,
        "similarity": figures,
        "similarity_max": d_max,
        "nearest": nearest,
        "tries": tries,
        "unavailable": record.get("unavailable", ""),
        "versions": _versions(record["rows"]),
        "rows": record["rows"],
        "flags": _flags(record["rows"]),
        "features": extra[0],
        "waveform": extra[1],
        "hashes": {rel: storage.sha256_file(stage / rel) for rel in extra},
    }


def _link_files(record: dict[str, Any], stage: Path, extra: list[str]) -> list[str]:
    """Hard-link (or copy, across file systems) the record's files and `extra` from the
    cache into `stage`; their paths, relative to both."""
    base = Path(record["folder"]).parent.parent
    placed = [*(r["file"] for r in record["rows"]), *extra]
    for rel in placed:
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(base / rel, target)
        except OSError:
            shutil.copy2(base / rel, target)
    return placed


def _versions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A track's versions in row order, each with the file a player plays (the MP3 where
    there is one, else the WAV)."""
    versions: dict[str, dict[str, Any]] = {}
    for r in rows:
        v = versions.setdefault(
            r["version"],
            {"version": r["version"], "kind": r["kind"], "duration_s": r["duration_s"], "file": ""},
        )
        if r["format"] in ("mp3", "wav") and (not v["file"] or r["format"] == "mp3"):
            v["file"] = r["file"]
    return list(versions.values())


def _flags(rows: list[dict[str, Any]]) -> list[str]:
    """What the tag check flagged, a line per version (stems left out)."""
    flagged = [r for r in rows if r["tag_flags"] and r["format"] != "stem"]
    return sorted({f"{r['version']}: {r['tag_flags']}" for r in flagged})


def write_catalogue(
    stage: Path, name: str, spec_d: dict[str, Any], ordered: list[dict[str, Any]]
) -> dict[str, Any]:
    """catalog.csv (a row per file), index.html and catalog.json into `stage`; the
    catalogue."""
    catalogue_doc = {
        "name": name,
        "delivery": spec_d,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tracks": ordered,
    }
    rows = [
        {
            **r,
            "backend": t["backend"],
            "model": t["model"],
            "licence": t["licence"],
            "similarity": t["similarity"]["overall"],
            "nearest": t["nearest"] or "",
            "tries": t["tries"],
            "unavailable": t.get("unavailable", ""),
        }
        for t in ordered
        for r in t["rows"]
    ]
    catalogue_index.write_csv(stage / "catalog.csv", rows)
    catalogue_index.write_index(stage / "index.html", catalogue_doc)
    catalogue_index.write_json(stage / "catalog.json", catalogue_doc)
    return catalogue_doc


def commit(folder: RunFolder, names: list[str], *, replaced: list[str]) -> None:
    """Switch the staged tracks and catalogue into the catalogue folder: catalog.json goes
    first (so a folder caught half-way claims nothing new), then each replaced track's old
    folder, the new tracks, and the catalogue files, catalog.json last."""
    out, stage = folder.out, folder.stage
    (out / "catalog.json").unlink(missing_ok=True)
    for track_id in replaced:
        shutil.rmtree(out / "tracks" / track_id, ignore_errors=True)
    for name in sorted(n for n in names if n not in CATALOGUE_FILES):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / name, target)
    for name in CATALOGUE_FILES:
        os.replace(stage / name, out / name)
