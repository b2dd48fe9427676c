"""Signals that stop a run: SIGTERM and SIGHUP unwind like Ctrl-C (`Terminated`), and every
signal the interpreter catches is noted, so the run's end can say what stopped it however
the Prefect engine rewrapped the exception on the way out."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP): unwound like Ctrl-C, so the run folder, partial files and the
    temporary Prefect server are cleaned up on the way out."""


_SIGNALLED: list[int] = []
_WAKEUP: list[int] = []  # the read end of a pipe the interpreter writes each signal to


def _terminate(signum: int, frame: Any) -> None:
    _SIGNALLED.append(signum)
    raise Terminated(signum)


def install() -> None:
    """In the main thread: SIGTERM and SIGHUP raise `Terminated`, and caught signals are
    noted (`_watch_signals`)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _terminate)
        _watch_signals()


def _watch_signals() -> None:
    """Have the interpreter note every signal it catches in a pipe, whichever Python
    handler is installed then (Prefect swaps in its own SIGTERM handler during a flow)."""
    if _WAKEUP:
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:
        os.close(read)
        os.close(write)
        return
    _WAKEUP.append(read)


def _caught_signals() -> list[int]:
    if not _WAKEUP:
        return []
    try:
        return list(os.read(_WAKEUP[0], 256))
    except BlockingIOError:
        return []


def stopped_by(exc: BaseException) -> int | None:
    """The signal that ended the run, if one did: ours (`_terminate`), Ctrl-C, or Prefect's
    own SIGTERM bridge (its TerminationSignal, which the engine may re-raise as something
    else while it unwinds: found in the exception's chain)."""
    caught = [*_SIGNALLED, *(s for s in _caught_signals() if s in (signal.SIGTERM, signal.SIGHUP))]
    if caught:
        return caught[0]
    seen: BaseException | None = exc
    for _ in range(32):
        if seen is None:
            return None
        if type(seen).__name__ == "TerminationSignal":
            return int(getattr(seen, "signal", signal.SIGTERM))
        if isinstance(seen, KeyboardInterrupt):
            return signal.SIGINT
        seen = seen.__cause__ or seen.__context__
    return None
