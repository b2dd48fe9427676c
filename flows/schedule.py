"""Scheduled scoring: the batch, upload and library flows served as Prefect deployments
(``scoreflow serve``), each one run at a time."""

from __future__ import annotations

from typing import Any

from scoreflow.flows.watch import score_new, score_uploads


def _one_at_a_time() -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def serve(
    *,
    folder: str | None,
    queue_url: str | None,
    out: str | None,
    cron: str | None,
    interval_s: float | None,
    prefix: str = "",
    options: dict[str, Any] | None = None,
    library: dict[str, Any] | None = None,
) -> None:
    """Serve the batch flow (and the queue flow, and the library flow) as Prefect
    deployments until stopped.

    They are named ``serve-batch`` and ``serve-uploads`` (infra/prefect.yaml's, run by
    workers, are ``pool-batch`` and ``pool-uploads``), and each runs one at a time: a
    scheduled run that finds the last one still going is cancelled, not queued.
    """
    from prefect import serve as prefect_serve

    schedule: dict[str, Any] = {"cron": cron} if cron else {"interval": interval_s or 3600}
    schedule["concurrency_limit"] = _one_at_a_time()
    deployments: list[Any] = []
    if folder:
        deployments.append(
            score_new.to_deployment(
                name="serve-batch",
                parameters={"folder": folder, "out": out, "options": options or {}},
                **schedule,
            )
        )
    if queue_url:
        deployments.append(
            score_uploads.to_deployment(
                name="serve-uploads",
                parameters={
                    "queue_url": queue_url,
                    "out": out,
                    "prefix": prefix,
                    "options": options or {},
                },
                interval=60,
                concurrency_limit=_one_at_a_time(),
            )
        )
    if library:
        deployments.append(library_deployment(library, schedule))
    prefect_serve(*deployments)


def library_deployment(params: dict[str, Any], schedule: dict[str, Any]) -> Any:
    """``serve-library``: `make_library` on a schedule with `params` (brief, out, add ...),
    e.g. 20 new tracks a night appended to a catalogue (tracks already there are kept)."""
    from scoreflow.flows.library import make_library

    return make_library.to_deployment(name="serve-library", parameters=params, **schedule)
