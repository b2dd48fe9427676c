"""A run's cues as takes: every take of every scene's cue made (from the cache where it
can), on the task runner the config names (`flows.runners`), and each scene's take chosen:
the one picked, else the best by quality score.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.transactions import CommitMode, transaction

from scoreflow.config.settings import Settings
from scoreflow.flows import cache, progress, runners
from scoreflow.flows.stages import fit_task, generate_cue_task, measure_cue_task
from scoreflow.tasks.audio import mix, spool
from scoreflow.tasks.engines import get_backend
from scoreflow.tasks.engines.batching import batch_queue
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.seeds import take_seed
from scoreflow.tasks.timeline.model import Brief, Scene, scene_seed

__all__ = ["Made", "Take", "best_take", "make_cues", "reachable", "take_task"]


@dataclass
class Take:
    """One candidate cue of a scene."""

    number: int  # 1-based
    seed: int
    cue: spool.SpooledCue
    report: dict[str, Any]  # `quality.cue_report`
    cached: bool
    worker: str = ""  # host/pid of the process that made it


@dataclass
class Made:
    """The cues chosen for the scenes (fitted, spooled to disk), and every take behind
    them."""

    cues: list[spool.SpooledCue]
    cached: dict[str, bool]
    reports: dict[str, dict[str, Any]]
    takes: dict[str, list[Take]] = field(default_factory=dict)
    chosen: dict[str, int] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)  # takes made by each process


@task(
    name="take",
    task_run_name="take-{brief.scene_id}-{number}",
    cache_policy=NO_CACHE,
    tags=[runners.CUE_TAG],
)
def take_task(
    brief: Brief,
    number: int,
    samples: int,
    seed: int,
    cfg: Settings,
    spool_dir: Path,
) -> Take:
    """One take of a cue: generated (cached on its music), fitted to its scene, measured
    (cached), then spooled to disk, so only its metadata travels on and a programme's
    cues never have to fit in memory together."""
    options = cache.task_options(cfg)
    # the nested tasks' cache records are written as each ends, not when the take does: a
    # take lost with its worker after generating finds its cue in the cache on the rerun
    with transaction(commit_mode=CommitMode.EAGER):
        made = generate_cue_task.with_options(**options)(
            brief, samples=samples, seed=seed, settings=cfg, return_state=True
        )
        fitted = fit_task(made.result(), samples=samples, settings=cfg.align)
        report = measure_cue_task.with_options(**options)(fitted, brief, cfg.quality)
    lufs = mix.integrated_lufs(fitted.audio, fitted.sample_rate)
    held = spool.spool(fitted, spool_dir / "cues", lufs=lufs)
    worker = f"{socket.gethostname()}/{os.getpid()}"
    return Take(number, seed, held, report, made.name == "Cached", worker)


def make_cues(
    scored: list[Scene],
    briefs: list[Brief],
    spans: dict[str, tuple[int, int]],
    cfg: Settings,
    picks: dict[str, int],
    spool_dir: Path,
) -> Made:
    """Make every take of every cue (`take_task`: from the cache where it can), counting
    them on the terminal as they finish; then choose each scene's take: the one picked,
    else the best by quality score (the first of equals)."""
    music = get_backend(cfg)
    log = get_run_logger()
    if not music.commercial_use:
        log.warning("%s: not for commercial use", music.licence)
    for notice in getattr(music, "notices", []):
        log.warning("%s", notice)
    n = cfg.pipeline.takes
    if music.batched:
        batch_queue(music).expect(len(scored) * n)
    takes = _make_takes(scored, briefs, spans, cfg, spool_dir, batched=music.batched)
    chosen = {sid: picks.get(sid) or best_take(ts) for sid, ts in takes.items()}
    used = {sid: takes[sid][k - 1] for sid, k in chosen.items()}
    return Made(
        cues=[used[s.id].cue for s in scored],
        cached={sid: t.cached for sid, t in used.items()},
        reports={sid: t.report for sid, t in used.items()},
        takes=takes if n > 1 else {},
        chosen=chosen,
        workers=dict(Counter(t.worker for ts in takes.values() for t in ts)),
    )


def _make_takes(
    scored: list[Scene],
    briefs: list[Brief],
    spans: dict[str, tuple[int, int]],
    cfg: Settings,
    spool_dir: Path,
    *,
    batched: bool,
) -> dict[str, list[Take]]:
    """Every take of every scene's cue, on the configured runner (`runners.cue_runner`),
    each seeded by `take_seed` from its scene's seed."""
    n = cfg.pipeline.takes
    jobs = [(s, b, k) for s, b in zip(scored, briefs, strict=True) for k in range(1, n + 1)]
    seeds = {s.id: scene_seed(cfg.pipeline.seed, s) for s in scored}
    runners.limit_cues(cfg.pipeline.cue_concurrency)
    with contextlib.ExitStack() as stack:
        runner = runners.cue_runner(cfg.pipeline, batched=batched)
        if runner is not None:
            stack.enter_context(runner)
        futures = [
            runners.submit(runner, take_task, brief=b, number=k, seed=take_seed(seeds[s.id], k),
                           samples=spans[s.id][1] - spans[s.id][0], cfg=cfg, spool_dir=spool_dir)
            for s, b, k in jobs
        ]  # fmt: skip
        _count(futures, [f"scene {s.id}" + (f" take {k}" if n > 1 else "") for s, _, k in jobs])
        takes: dict[str, list[Take]] = {s.id: [] for s in scored}
        for (s, _, _), f in zip(jobs, futures, strict=True):
            takes[s.id].append(reachable(f.result(), s.id))
    return takes


def reachable(take: Take, scene_id: str) -> Take:
    """The take, once its spooled audio is known to be readable here: a worker on another
    machine spools to its own disk unless `$SCOREFLOW_WORK` is storage they share."""
    path = take.cue.signal.path
    if not path.is_file():
        raise InputError(
            f"take {take.number} was made by worker {take.worker}, and its audio is not "
            "readable on this machine",
            scene=scene_id,
            field="SCOREFLOW_WORK",
            value=str(path),
            fix="Point $SCOREFLOW_WORK, on the run's machine and on every worker, at "
            "storage they all mount (see README, Scale-out)",
        )
    return take


def best_take(takes: list[Take]) -> int:
    """The take with the highest overall quality score (the first of equals)."""
    return max(takes, key=lambda t: (t.report["quality"]["overall"], -t.number)).number


def _count(futures: list[Any], names: list[str]) -> None:
    """Show the futures on the terminal as they finish."""
    progress.count("cues", len(futures))
    name_of = {f.task_run_id: name for f, name in zip(futures, names, strict=True)}
    for done in as_completed(futures):
        done.wait()
        progress.advance(name_of[done.task_run_id])
