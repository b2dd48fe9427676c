"""The cue takes' task runner and concurrency limit, from config."""

from __future__ import annotations

import os

import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from scoreflow import config
from scoreflow.flows import runners
from scoreflow.flows.takes import take_task


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        ({}, {"threads": os.cpu_count()}),
        ({"threads": 3}, {"threads": 3}),
        ({"task_runner": "dask", "dask_address": "tcp://10.0.0.5:8786"},
         {"address": "tcp://10.0.0.5:8786"}),
        ({"task_runner": "dask", "dask_workers": 3},
         {"address": None, "n_workers": 3, "processes": True, "threads_per_worker": 1}),
    ],
)  # fmt: skip
def test_the_runner_follows_the_config(pipeline: dict, expected: dict):
    settings = config.load_settings(None, {"pipeline": pipeline})
    runner = runners.cue_runner(settings.pipeline)
    if "threads" in expected:  # a bounded pool in the run's process
        assert isinstance(runner, ThreadPoolTaskRunner)
        assert runner._max_workers == expected["threads"]
        return
    from prefect_dask import DaskTaskRunner

    assert isinstance(runner, DaskTaskRunner)
    assert runner.address == expected["address"]
    for key in ("n_workers", "processes", "threads_per_worker"):
        if key in expected:
            assert runner.cluster_kwargs[key] == expected[key]


def test_every_take_carries_the_tag_the_limit_holds(prefect_server):
    from prefect import get_client

    assert runners.CUE_TAG in take_task.tags
    runners.limit_cues(3)
    runners.limit_cues(0)  # 0 leaves the limit as it is
    with get_client(sync_client=True) as client:
        limit = client.read_concurrency_limit_by_tag(runners.CUE_TAG)
    assert limit.concurrency_limit == 3
    runners.limit_cues(5)  # set again: updated, not refused
    with get_client(sync_client=True) as client:
        assert client.read_concurrency_limit_by_tag(runners.CUE_TAG).concurrency_limit == 5
        client.delete_concurrency_limit_by_tag(runners.CUE_TAG)


def test_a_batched_backend_gets_every_take_at_once():
    pipeline = config.load_settings(None, {}).pipeline
    assert runners.cue_runner(pipeline, batched=True) is None  # the flow's unbounded pool
    four = pipeline.model_copy(update={"threads": 4})
    assert runners.cue_runner(four, batched=True)._max_workers == 4


def test_a_take_spooled_where_this_machine_cannot_read_is_named(tmp_path):
    """A worker on another machine spools to its own disk unless $SCOREFLOW_WORK is shared:
    the run stops with the scene, the worker, the path and the fix, not a traceback."""
    import numpy as np

    from scoreflow.flows.takes import Take, reachable
    from scoreflow.tasks.audio import spool
    from scoreflow.tasks.errors import InputError
    from scoreflow.tasks.timeline.model import Cue

    audio = np.full((2, 4800), 0.1, np.float32)
    cue = Cue("3", audio, 48000, "composer", "test", "a prompt", 7, "Apache-2.0")
    held = spool.spool(cue, tmp_path / "cues", lufs=-20.0)
    take = Take(2, 7, held, {}, False, "render-7/4242")
    assert reachable(take, "3") is take
    held.signal.path.unlink()  # as seen from the run's machine
    with pytest.raises(InputError) as caught:
        reachable(take, "3")
    text = str(caught.value)
    for part in (
        "scene '3'",
        "SCOREFLOW_WORK",
        "render-7/4242",
        str(held.signal.path),
        "all mount",
    ):
        assert part in text
