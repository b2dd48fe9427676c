"""Where cue takes run, from ``[pipeline]``: Prefect's own task runners, chosen in config.

- ``task_runner = "thread"`` (default): a thread pool in the run's process, ``threads``
  wide (0: one a core).
- ``task_runner = "dask"``: prefect-dask's `DaskTaskRunner`, on the Dask scheduler at
  ``dask_address`` (``tcp://host:8786``: workers on other machines), or on a local cluster
  of ``dask_workers`` processes when the address is empty. Dask workers report to the
  Prefect server in their ``PREFECT_API_URL`` and must see the same cue cache
  (``[cache]``: a shared folder, or ``cache.storage`` naming an S3 block) and spool folder
  (``SCOREFLOW_WORK``).

Only the cue takes fan out (and, on Dask, the library flow's tracks: every track's first
try at once); probing, mixing and muxing stay in the flow's process, so a worker never
needs the programme's audio. ``cue_concurrency`` puts a Prefect tag
concurrency limit on every run's takes together, so one big run cannot starve the rest.
"""

from __future__ import annotations

import os
from typing import Any, cast

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from scoreflow.config.settings import PipelineSettings
from scoreflow.tasks.errors import InputError

CUE_TAG = "scoreflow-cue"  # every take carries it; `cue_concurrency` limits it


def cue_runner(pipeline: PipelineSettings, *, batched: bool = False) -> TaskRunner[Any] | None:
    """The task runner for a run's cue takes (None: the flow's own, unbounded threads).

    Threads are bounded by ``threads`` (0: one a core): more takes rendering at once than
    cores only add their memory. A `batched` backend (one generate call for many cues)
    gets as many threads as there are takes unless ``threads`` says otherwise.
    """
    if pipeline.task_runner == "thread":
        n = pipeline.threads or (0 if batched else os.cpu_count() or 1)
        return ThreadPoolTaskRunner(max_workers=n) if n else None
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise InputError(
            "the dask task runner needs prefect-dask", field="pipeline.task_runner",
            value="dask", fix="pip install 'scoreflow[dask]', or use \"thread\"",
        ) from None  # fmt: skip
    if pipeline.dask_address:
        return DaskTaskRunner(address=pipeline.dask_address)
    cluster = {
        "n_workers": pipeline.dask_workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
    }
    return DaskTaskRunner(cluster_kwargs=cluster)


def limit_cues(limit: int) -> None:
    """Hold every run's takes together to `limit` at once (a Prefect tag concurrency
    limit on `CUE_TAG`, created or updated on the server); 0 leaves it as it is."""
    if not limit:
        return
    from prefect import get_client

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=CUE_TAG, concurrency_limit=limit)


def submit(runner: TaskRunner[Any] | None, task: Any, **parameters: Any) -> PrefectFuture[Any]:
    """Submit `task` to `runner` (entered), or to the flow's own task runner when None."""
    if runner is None:
        return cast(PrefectFuture[Any], task.submit(**parameters))
    return runner.submit(task, parameters=parameters)
