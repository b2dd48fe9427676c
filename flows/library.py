"""The `make_library` Prefect flow: a library brief in, a catalogue of finished tracks out.

Each track is a Prefect task cached on what defines it (its brief, seed, title, the
delivery spec, the composer's settings and code), its files kept in the cache folder, so a
killed run resumes where it stopped and an unchanged brief regenerates nothing. Tracks are
made one after another because each is compared with the catalogue so far (a track too
like one already there is made again with a new seed). The catalogue folder grows: tracks
already in it stay, new ones are added, an edited brief entry replaces its own track; the
catalogue files are written last.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from scoreflow import config
from scoreflow.flows import cache, progress, runners
from scoreflow.flows.score import STORAGE_RETRIES, fetch_task, music_settings
from scoreflow.tasks.cloud.storage import (
    S3Uri,
    get_json,
    is_remote,
    local_path,
    prepare_out_dir,
    sha256_file,
    upload,
    work_dir,
)
from scoreflow.tasks.delivery.outdir import RunFolder
from scoreflow.tasks.engines import get_backend
from scoreflow.tasks.errors import InputError, StorageError
from scoreflow.tasks.library import catalogue, catalogue_index
from scoreflow.tasks.library.plan import LibraryPlan, TrackSpec, delivery, read_brief
from scoreflow.tasks.quality import originality

CATALOGUE_FILES = ("catalog.csv", "index.html", "catalog.json")  # in this order: json last
_CODE = ("catalogue.py", "catalogue_index.py", "tagging.py", "originality.py", "library.py")


def _code_digest() -> str:
    root = Path(catalogue.__file__).parent
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


def track_key(
    spec: TrackSpec, *, seed: int, title: str, spec_d: dict[str, Any], settings: dict[str, Any]
) -> str:
    """What defines a track's files: its music, seed, title, the delivery spec, the
    backend's settings and vocabulary, and the code that makes them."""
    payload = {
        "track": spec.definition(),
        "id": spec.id,
        "seed": seed,
        "title": title,
        "delivery": spec_d,
        "settings": settings,
        "library_code": _code_digest(),
        "styles": config.styles_digest(settings["composer"]["styles"]),
    }
    return cache.cue_key(payload, settings).replace(cache.KEY_PREFIX, "scoreflow-track-")


def _track_cache_key(ctx: TaskRunContext, params: dict[str, Any]) -> str:
    return str(params["key"])


@task(
    name="make-track",
    task_run_name="track-{spec.id}-seed-{seed}",
    cache_key_fn=_track_cache_key,
    persist_result=True,
    result_serializer="json",
)
def track_task(
    spec: TrackSpec,
    seed: int,
    title: str,
    key: str,
    spec_d: dict[str, Any],
    settings: dict[str, Any],
    versions: list[str],
    root: str,
) -> dict[str, Any]:
    """Render every version of one track into ``root/<key>/tracks/<id>/``; its record."""
    composer = get_backend(settings)
    folder = Path(root) / key / "tracks" / spec.id
    shutil.rmtree(folder, ignore_errors=True)  # what a killed try left
    d = delivery(spec_d, source="delivery")
    builder = catalogue.make_builder(
        composer, spec, d, folder, seed=seed, title=title, versions=versions
    )
    record = builder.build()
    features = folder / "features.json"
    catalogue.write_features(features, record.pop("features"))
    wave = folder / f"{spec.id}_waveform.svg"
    source = folder / f"{spec.id}_main.{'wav' if 'wav' in d.formats else 'mp3'}"
    catalogue_index.waveform_svg(wave, source)
    return {
        **record,
        "folder": str(folder),
        "key": key,
        "seed": seed,
        "title": title,
        "backend": composer.name,
        "model": composer.model,
        "licence": getattr(composer, "cue_licence", lambda _: composer.licence)(
            spec.brief.instruments
        ),
    }


@task(name="publish-catalogue", cache_policy=NO_CACHE, **STORAGE_RETRIES)
def publish_task(stage: Path, prefix: str, names: list[str]) -> str:
    target = S3Uri.parse(prefix)
    for name in [n for n in names if n not in CATALOGUE_FILES] + list(CATALOGUE_FILES):
        upload(stage / name, target.join(name))
    return str(target)


def read_catalogue(out: str) -> dict[str, Any]:
    """The catalogue already at `out` (an empty one where there is none)."""
    try:
        data = (
            get_json(S3Uri.parse(out).join("catalog.json"))
            if is_remote(out)
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


@flow(name="make-library")
def make_library(
    brief: str,
    out: str,
    config_file: str | None = None,
    backend: str | None = None,
    tracks: int | None = None,
    add: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Make the tracks of a library brief into the catalogue at `out` (a folder or an
    ``s3://`` prefix); returns the catalogue (also written as ``catalog.json``).

    `tracks` cycles the brief's entries to that many tracks; `add` makes that many more
    than the catalogue already holds from this brief (a nightly schedule's "20 new
    tracks"), never touching the others.
    """
    cfg = config.load_config(config_file, {"pipeline": {"backend": backend}})
    log = get_run_logger()
    brief_p = fetch_task(brief, work_dir(), "library brief")
    vocab = config.styles(cfg["composer"]["styles"])
    existing = read_catalogue(out)
    if add is not None:  # this many more than the catalogue holds from this brief
        if not 1 <= add <= 10_000:
            raise InputError("must be 1 to 10000", field="--add", value=add)
        held = sum(1 for t in existing["tracks"] if t.get("brief") == Path(brief).name)
        tracks = held + add
    plan = read_brief(brief_p, cfg=cfg, vocab=vocab, tracks=tracks, seed=seed)
    settings = music_settings(cfg)
    music = get_backend(settings)
    for notice in getattr(music, "notices", []):
        log.warning("%s", notice)
    with contextlib.ExitStack() as stack:
        stage, folder = _output(stack, out)
        result = _make(
            plan, existing, cfg=cfg, settings=settings, stage=stage, brief=brief, log=log, out=out
        )
        names = result.pop("_names")
        if folder is None:
            publish_task(stage, out, names)
        else:
            commit(folder, names, replaced=result.pop("_replaced"))
        result.pop("_replaced", None)
    return result


def _output(stack: contextlib.ExitStack, out: str) -> tuple[Path, RunFolder | None]:
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid():x}"
    if is_remote(out):
        return prepare_out_dir(work_dir() / "library-runs" / run_id), None
    folder = RunFolder(local_path(out, what="catalogue folder"), run_id)
    return stack.enter_context(folder), folder


def _make(
    plan: LibraryPlan,
    existing: dict[str, Any],
    *,
    cfg: dict[str, Any],
    settings: dict[str, Any],
    stage: Path,
    brief: str,
    log: Any,
    out: str,
) -> dict[str, Any]:
    d = plan.delivery
    spec_d = d.to_dict()
    root = config.cache_dir(cfg) / "library"
    task_ = track_task.with_options(**cache.task_options(cfg))
    held = {t["id"]: t for t in existing["tracks"]}
    feats: dict[str, dict[str, Any]] = {}
    for t in existing["tracks"]:
        path = _held_file(out, stage, t.get("features", ""))
        if path is not None:
            feats[t["id"]] = json.loads(path.read_text())
    taken = {
        t["title"].lower() for t in existing["tracks"] if t["id"] not in {s.id for s in plan.tracks}
    }
    taken |= {s.title.lower() for s in plan.tracks if s.title}
    tracks = dict(held)
    names: list[str] = []
    replaced: list[str] = []
    titled = []
    for spec in plan.tracks:
        title = spec.title or catalogue_index.make_title(
            spec.id,
            genre=spec.brief.genre,
            mood=spec.brief.mood,
            seed=spec.seed,
            vocab=_vocab(cfg),
            taken=taken,
        )
        taken.add(title.lower())
        first_key = track_key(spec, seed=spec.seed, title=title, spec_d=spec_d, settings=settings)
        titled.append((spec, title, first_key))
    _fan_out(task_, cfg, [
        {"spec": spec, "seed": spec.seed, "title": title, "key": key, "spec_d": spec_d,
         "settings": settings, "versions": plan.versions(), "root": str(root)}
        for spec, title, key in titled
        if held.get(spec.id, {}).get("first_key") != key
    ])  # fmt: skip
    progress.count("tracks", len(plan.tracks))
    for spec, title, first_key in titled:
        old = held.get(spec.id)
        if old is not None and old.get("first_key") == first_key:
            progress.advance(f"track {spec.id} (in the catalogue)")
            continue  # unchanged: kept as it is
        feats.pop(spec.id, None)
        made = _original(
            task_,
            spec,
            title=title,
            first_key=first_key,
            spec_d=spec_d,
            settings=settings,
            versions=plan.versions(),
            root=root,
            feats=feats,
            log=log,
        )
        record, mine, figures, nearest, tries = made
        entry = _place(
            record,
            spec,
            stage,
            names,
            brief=brief,
            first_key=first_key,
            figures=figures,
            nearest=nearest,
            tries=tries,
            d_max=d.similarity_max,
        )
        feats[spec.id] = mine
        if spec.id in held:
            replaced.append(spec.id)
        tracks[spec.id] = entry
        progress.advance(f"track {spec.id}")
    catalogue_doc = _write_catalogue(stage, d.name, spec_d, [tracks[k] for k in tracks])
    return {
        **catalogue_doc,
        "location": out,
        "_names": [*names, *CATALOGUE_FILES],
        "_replaced": replaced,
    }


def _fan_out(task_: Any, cfg: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
    """With the Dask task runner (`flows.runners`), every track's first try is made at once
    on the workers, so the loop that checks each track against the earlier ones finds them
    in the cache. The thread runner keeps tracks one at a time (a track's peak memory is
    the library's)."""
    runner = runners.cue_runner(cfg["pipeline"])
    if runner is None or len(jobs) < 2:
        return
    with runner:
        for future in [runners.submit(runner, task_, **args) for args in jobs]:
            future.wait()


def _vocab(cfg: dict[str, Any]) -> dict[str, Any]:
    return config.styles(cfg["composer"]["styles"])


def _held_file(out: str, stage: Path, rel: str) -> Path | None:
    if not rel:
        return None
    if is_remote(out):
        from scoreflow.tasks.cloud.storage import fetch

        try:
            return fetch(str(S3Uri.parse(out).join(rel)), work_dir(), what="catalogue file")
        except InputError:
            return None
    path = Path(out) / rel
    return path if path.is_file() else None


def _original(
    task_: Any,
    spec: TrackSpec,
    *,
    title: str,
    first_key: str,
    spec_d: dict[str, Any],
    settings: dict[str, Any],
    versions: list[str],
    root: Path,
    feats: dict[str, dict[str, Any]],
    log: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float], str | None, int]:
    """The track made until it is unlike every track in `feats` (a new seed each try, at
    most ``max_tries``): its record, features, likeness figures, nearest track, tries."""
    d_max, max_tries = float(spec_d["similarity_max"]), int(spec_d["max_tries"])
    for attempt in range(max_tries):
        seed = spec.seed if attempt == 0 else (spec.seed + 7919 * attempt) % 2**32
        key = (
            first_key
            if attempt == 0
            else track_key(spec, seed=seed, title=title, spec_d=spec_d, settings=settings)
        )
        args = {"spec": spec, "seed": seed, "title": title, "key": key, "spec_d": spec_d,
                "settings": settings, "versions": versions, "root": str(root)}  # fmt: skip
        record = _run_track(task_, args)
        mine = json.loads((Path(record["folder"]) / "features.json").read_text())
        nearest, figures = originality.nearest(mine, feats)
        last = attempt == max_tries - 1
        if figures["overall"] > d_max:
            log.warning(
                "track %s (seed %d) is %.2f like %s: %s",
                spec.id,
                seed,
                figures["overall"],
                nearest,
                f"kept after {max_tries} tries" if last else "made again with a new seed",
            )
        if figures["overall"] <= d_max or last:
            break
    return record, mine, figures, nearest, attempt + 1


def _write_catalogue(
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


def _run_track(task_: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The track task called with `args`; a cached record whose files are gone from the
    cache folder is made again."""
    record: dict[str, Any] = task_(**args)
    folder = Path(record["folder"])
    if all((folder.parent.parent / r["file"]).is_file() for r in record["rows"]):
        return record
    return task_.with_options(refresh_cache=True)(**args)


def _place(
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
    """Link (or copy) a track's files from the cache into the stage; its catalogue entry."""
    src = Path(record["folder"])
    base = src.parent.parent
    files = [r["file"] for r in record["rows"]]
    extra = [f"tracks/{spec.id}/features.json", f"tracks/{spec.id}/{spec.id}_waveform.svg"]
    for rel in [*files, *extra]:
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(base / rel, target)
        except OSError:
            shutil.copy2(base / rel, target)
        names.append(rel)
    versions: dict[str, dict[str, Any]] = {}
    for r in record["rows"]:
        v = versions.setdefault(
            r["version"],
            {"version": r["version"], "kind": r["kind"], "duration_s": r["duration_s"], "file": ""},
        )
        if r["format"] in ("mp3", "wav") and (not v["file"] or r["format"] == "mp3"):
            v["file"] = r["file"]
    flags = sorted(
        {
            f"{r['version']}: {r['tag_flags']}"
            for r in record["rows"]
            if r["tag_flags"] and r["format"] != "stem"
        }
    )
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
        "versions": list(versions.values()),
        "rows": record["rows"],
        "flags": flags,
        "features": extra[0],
        "waveform": extra[1],
        "hashes": {rel: sha256_file(stage / rel) for rel in extra},
    }


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
