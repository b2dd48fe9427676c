"""Where cue takes run, from ``[pipeline]``: Prefect's own task runners, chosen in config.

- ``task_runner = "thread"`` (default): the flow's thread pool, in the run's process.
- ``task_runner = "dask"``: prefect-dask's `DaskTaskRunner`, on the Dask scheduler at
  ``dask_address`` (``tcp://host:8786``: workers on other machines), or on a local cluster
  of ``dask_workers`` processes when the address is empty. Dask workers report to the
  Prefect server in their ``PREFECT_API_URL`` and must see the same cue cache
  (``[cache]``: a shared folder, or ``cache.storage`` naming an S3 block) and spool folder
  (``SCOREFLOW_WORK``).

Only the cue takes fan out; probing, mixing and muxing stay in the flow's process, so a
worker never needs the programme's audio. ``cue_concurrency`` puts a Prefect tag
concurrency limit on every run's takes together, so one big run cannot starve the rest.
"""

from __future__ import annotations

from typing import Any

from prefect.task_runners import TaskRunner

from scoreflow.tasks.errors import InputError

CUE_TAG = "scoreflow-cue"  # every take carries it; `cue_concurrency` limits it


def cue_runner(pipeline: dict[str, Any]) -> TaskRunner[Any] | None:
    """The task runner for a run's cue takes; None: the flow's own (threads)."""
    if pipeline["task_runner"] == "thread":
        return None
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise InputError(
            "the dask task runner needs prefect-dask", field="pipeline.task_runner",
            value="dask", fix="pip install 'scoreflow[dask]', or use \"thread\"",
        ) from None  # fmt: skip
    if pipeline["dask_address"]:
        return DaskTaskRunner(address=pipeline["dask_address"])
    cluster = {
        "n_workers": pipeline["dask_workers"],
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
