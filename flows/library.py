"""The `make_library` Prefect flow: a library brief in, a catalogue of finished tracks out.

Each track is a Prefect task cached on what defines it (its brief, seed, title, the
delivery spec, the composer's settings and code), its files kept in the cache folder, so a
killed run resumes where it stopped and an unchanged brief regenerates nothing. Tracks are
made one after another because each is compared with the catalogue so far (a track too
like one already there is made again with a new seed). The catalogue folder grows: tracks
already in it stay, new ones are added, an edited brief entry replaces its own track; the
catalogue files are written last (`tasks.library.catalogue_folder`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from scoreflow import config
from scoreflow.config.settings import Settings
from scoreflow.flows import cache, progress, runners
from scoreflow.flows import settings as run_settings
from scoreflow.flows.stages import STORAGE_RETRIES, fetch_task
from scoreflow.tasks.cloud import storage
from scoreflow.tasks.delivery.outdir import RunFolder
from scoreflow.tasks.engines import get_backend
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.library import catalogue, catalogue_folder, catalogue_index, plan, tagging
from scoreflow.tasks.library.catalogue_folder import CATALOGUE_FILES, commit, read_catalogue
from scoreflow.tasks.library.plan import LibraryPlan, TrackSpec, delivery, read_brief
from scoreflow.tasks.quality import originality
from scoreflow.tasks.seeds import take_seed

# the modules a track's files come from: their code is part of its cache key
_CODE: tuple[ModuleType, ...] = (catalogue, catalogue_index, tagging, originality, plan)


def _code_digest() -> str:
    """A digest of the code in `_CODE` (16 hex digits)."""
    digest = hashlib.sha256()
    for module in _CODE:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def track_key(
    spec: TrackSpec, *, seed: int, title: str, spec_d: dict[str, Any], settings: Settings
) -> str:
    """What defines a track's files: its music, seed, title, the delivery spec, the
    backend's settings and vocabulary, and the code that makes them."""
    payload = {
        "track": spec.definition(),
        "id": spec.id,
        "seed": seed,
        "title": title,
        "delivery": spec_d,
        "settings": cache.music_settings(settings),
        "library_code": _code_digest(),
        "styles": config.styles_digest(settings.composer.styles),
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
    settings: Settings,
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
    """Upload the staged tracks under `prefix`, then the catalogue files (catalog.json
    last); returns the prefix."""
    target = storage.S3Uri.parse(prefix)
    for name in [n for n in names if n not in CATALOGUE_FILES] + list(CATALOGUE_FILES):
        storage.upload(stage / name, target.join(name))
    return str(target)


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
    cfg = run_settings.load(config_file, {"pipeline": {"backend": backend}})
    log = get_run_logger()
    brief_p = fetch_task(brief, storage.work_dir(), "library brief")
    vocab = config.styles(cfg.composer.styles)
    existing = read_catalogue(out)
    if add is not None:  # this many more than the catalogue holds from this brief
        if not 1 <= add <= 10_000:
            raise InputError("must be 1 to 10000", field="--add", value=add)
        held = sum(1 for t in existing["tracks"] if t.get("brief") == Path(brief).name)
        tracks = held + add
    library = read_brief(brief_p, cfg=cfg, vocab=vocab, tracks=tracks, seed=seed)
    music = get_backend(cfg)
    for notice in getattr(music, "notices", []):
        log.warning("%s", notice)
    with contextlib.ExitStack() as stack:
        stage, folder = _output(stack, out)
        run = _Run.start(cfg, library)
        result = _make(run, library, existing, stage=stage, brief=brief, out=out, log=log)
        names = result.pop("_names")
        if folder is None:
            publish_task(stage, out, names)
        else:
            commit(folder, names, replaced=result.pop("_replaced"))
        result.pop("_replaced", None)
    return result


def _output(stack: contextlib.ExitStack, out: str) -> tuple[Path, RunFolder | None]:
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid():x}"
    if storage.is_remote(out):
        return storage.prepare_out_dir(storage.work_dir() / "library-runs" / run_id), None
    folder = RunFolder(storage.local_path(out, what="catalogue folder"), run_id)
    return stack.enter_context(folder), folder


@dataclass(frozen=True)
class _Run:
    """What every track of one library run shares: the settings, the track task with the
    run's cache options, the delivery spec, the versions and the cache folder the tracks'
    files go to."""

    cfg: Settings
    task: Any
    spec_d: dict[str, Any]
    versions: list[str]
    root: Path

    @classmethod
    def start(cls, cfg: Settings, library: LibraryPlan) -> _Run:
        """The run of `library`'s tracks under the settings `cfg`."""
        task_ = track_task.with_options(**cache.task_options(cfg))
        spec_d, versions = library.delivery.to_dict(), library.versions()
        return cls(cfg, task_, spec_d, versions, config.cache_dir(cfg) / "library")

    def key(self, spec: TrackSpec, *, seed: int, title: str) -> str:
        """The track task's cache key for `spec` made with `seed` under `title`."""
        return track_key(spec, seed=seed, title=title, spec_d=self.spec_d, settings=self.cfg)

    def args(self, spec: TrackSpec, *, seed: int, title: str, key: str) -> dict[str, Any]:
        """The track task's arguments."""
        return {
            "spec": spec,
            "seed": seed,
            "title": title,
            "key": key,
            "spec_d": self.spec_d,
            "settings": self.cfg,
            "versions": self.versions,
            "root": str(self.root),
        }


@dataclass(frozen=True)
class _Made:
    """A track made unlike the others: the track task's record, its features, its likeness
    figures, the nearest track, and how many tries it took."""

    record: dict[str, Any]
    features: dict[str, Any]
    figures: dict[str, float]
    nearest: str | None
    tries: int


def _make(
    run: _Run,
    library: LibraryPlan,
    existing: dict[str, Any],
    *,
    stage: Path,
    brief: str,
    out: str,
    log: Any,
) -> dict[str, Any]:
    """Every track of `library` made (unless it is in the catalogue `existing` unchanged)
    and placed into `stage`, then the catalogue files; the catalogue, with the staged
    names (``_names``) and the ids of the tracks it replaces (``_replaced``)."""
    d = library.delivery
    held = {t["id"]: t for t in existing["tracks"]}
    feats = catalogue_folder.held_features(out, existing)
    titled = _titled(library, existing, run)
    _fan_out(run, [
        run.args(spec, seed=spec.seed, title=title, key=key)
        for spec, title, key in titled
        if held.get(spec.id, {}).get("first_key") != key
    ])  # fmt: skip
    progress.count("tracks", len(library.tracks))
    tracks = dict(held)
    names: list[str] = []
    replaced: list[str] = []
    for spec, title, first_key in titled:
        if held.get(spec.id, {}).get("first_key") == first_key:
            progress.advance(f"track {spec.id} (in the catalogue)")
            continue  # unchanged: kept as it is
        feats.pop(spec.id, None)
        made = _original(run, spec, title=title, first_key=first_key, feats=feats, log=log)
        tracks[spec.id] = catalogue_folder.place_track(
            made.record, spec, stage, names, brief=brief, first_key=first_key,
            figures=made.figures, nearest=made.nearest, tries=made.tries, d_max=d.similarity_max,
        )  # fmt: skip
        feats[spec.id] = made.features
        if spec.id in held:
            replaced.append(spec.id)
        progress.advance(f"track {spec.id}")
    doc = catalogue_folder.write_catalogue(stage, d.name, run.spec_d, list(tracks.values()))
    return {**doc, "location": out, "_names": [*names, *CATALOGUE_FILES], "_replaced": replaced}


def _titled(
    library: LibraryPlan, existing: dict[str, Any], run: _Run
) -> list[tuple[TrackSpec, str, str]]:
    """Each track of the plan with its title (the brief's, or one made from the
    vocabulary, unique in the catalogue) and the cache key of its first try."""
    ids = {s.id for s in library.tracks}
    taken = {t["title"].lower() for t in existing["tracks"] if t["id"] not in ids}
    taken |= {s.title.lower() for s in library.tracks if s.title}
    vocab = config.styles(run.cfg.composer.styles)
    titled = []
    for spec in library.tracks:
        title = spec.title or catalogue_index.make_title(
            spec.id,
            genre=spec.brief.genre,
            mood=spec.brief.mood,
            seed=spec.seed,
            vocab=vocab,
            taken=taken,
        )
        taken.add(title.lower())
        titled.append((spec, title, run.key(spec, seed=spec.seed, title=title)))
    return titled


def _fan_out(run: _Run, jobs: list[dict[str, Any]]) -> None:
    """With the Dask task runner (`flows.runners`), every track's first try is made at once
    on the workers, so the loop that checks each track against the earlier ones finds them
    in the cache. The thread runner keeps tracks one at a time (a track's peak memory is
    the library's)."""
    runner = runners.cue_runner(run.cfg.pipeline)
    if runner is None or len(jobs) < 2:
        return
    with runner:
        for future in [runners.submit(runner, run.task, **args) for args in jobs]:
            future.wait()


def _original(
    run: _Run,
    spec: TrackSpec,
    *,
    title: str,
    first_key: str,
    feats: dict[str, dict[str, Any]],
    log: Any,
) -> _Made:
    """The track made until it is unlike every track in `feats`, at most ``max_tries``
    times: try ``k`` takes the seed `seeds.take_seed` gives (try 1 the track's own)."""
    d_max, max_tries = float(run.spec_d["similarity_max"]), int(run.spec_d["max_tries"])
    for attempt in range(max_tries):
        seed = take_seed(spec.seed, attempt + 1)
        key = first_key if attempt == 0 else run.key(spec, seed=seed, title=title)
        record = _run_track(run.task, run.args(spec, seed=seed, title=title, key=key))
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
    return _Made(record, mine, figures, nearest, attempt + 1)


def _run_track(task_: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The track task called with `args`; a cached record whose files are gone from the
    cache folder is made again."""
    record: dict[str, Any] = task_(**args)
    folder = Path(record["folder"])
    if all((folder.parent.parent / r["file"]).is_file() for r in record["rows"]):
        return record
    return task_.with_options(refresh_cache=True)(**args)
