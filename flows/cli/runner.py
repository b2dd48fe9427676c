"""How every subcommand runs: Prefect started (a running `scoreflow server`, else a
temporary one), the run's progress on the terminal, and the way it ended mapped to one
message and an exit code."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from scoreflow.flows.cli.options import Handler
from scoreflow.flows.cli.signals import stopped_by
from scoreflow.tasks.errors import InputError, ScoreflowError

T = TypeVar("T")


def run(handler: Handler, args: argparse.Namespace) -> int:
    """The subcommand's exit code: its own, 128 + the signal that stopped it, 2 for bad
    input, 1 for any other failure (`failure`)."""
    try:
        return handler(args)
    except BaseException as exc:
        stop = stopped_by(exc)
        if stop is not None:  # however the engine rewrapped it
            how = "interrupted" if stop == signal.SIGINT else "terminated"
            print(f"scoreflow: stopped ({how}); the output folder is as it was", file=sys.stderr)
            return 128 + stop
        return failure(exc, debug=args.debug)


def failure(exc: BaseException, *, debug: bool) -> int:
    """One line for a failure, and the exit code: 2 bad input, 1 anything else (a bug or
    an environment fault shows its traceback only with --debug)."""
    if isinstance(exc, InputError):
        print(f"scoreflow: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, ScoreflowError):
        print(f"scoreflow: failed: {exc}", file=sys.stderr)
        return 1
    if debug or not isinstance(exc, Exception):
        raise exc
    print(
        f"scoreflow: failed: {type(exc).__name__}: {exc}\n"
        "(run again with --debug for the traceback)",
        file=sys.stderr,
    )
    return 1


@contextlib.contextmanager
def prefect(args: argparse.Namespace, *, quiet: bool) -> Iterator[None]:
    """Settings before Prefect is imported (telemetry is off: `scoreflow.flows`): its console
    log only with --debug (the UI still gets every line); a running `scoreflow server`, else
    a temporary one for this run, stopped when it ends (`server.temporary_server`)."""
    if quiet and not args.debug:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from scoreflow.flows import server

    if server.configured_api() is not None:
        yield
        return
    if quiet:
        print(
            "scoreflow: starting a temporary Prefect server (5-20 s); "
            "`scoreflow server start` keeps one running for every run",
            file=sys.stderr,
        )
    with server.temporary_server():
        yield


def with_progress(
    args: argparse.Namespace, flow: Callable[..., T], *positional: Any, **options: Any
) -> T:
    """`flow(*positional, **options)` under Prefect, its progress shown on the terminal.
    `flow` imports the Prefect flow it runs when called (after Prefect's settings)."""
    with prefect(args, quiet=True):
        from scoreflow.flows import progress

        with progress.report_to(progress.Terminal()):
            return flow(*positional, **options)
