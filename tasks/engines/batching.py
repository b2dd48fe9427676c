"""Batch single-cue requests made concurrently (one Prefect task per cue) into as few
`generate` calls as possible, for backends that batch (``batched = True``).

Each cue stays its own task, so per-cue caching is untouched: cached cues never reach the
backend, and the others arrive within moments of each other. The first waiting request
collects: it waits until every expected request has arrived or none has come for
`quiet_s`, then runs one `generate` over all of them (the backend groups them by length
and splits a batch that runs out of memory) and hands each caller its cue. A batch is
seeded with its first cue's seed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from scoreflow.tasks.errors import BackendError
from scoreflow.tasks.timeline.model import Brief, Cue


@dataclass
class _Request:
    brief: Brief
    seconds: float
    seed: int
    done: threading.Event = field(default_factory=threading.Event)
    cue: Cue | None = None
    error: BaseException | None = None


class BatchQueue:
    """Gathers concurrent `generate` requests for one backend into batched calls."""

    def __init__(self, backend: Any, *, quiet_s: float = 0.3) -> None:
        self.backend, self.quiet_s = backend, quiet_s
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._collecting = False
        self._expected = 0
        self._last_arrival = 0.0

    def expect(self, n: int) -> None:
        """At most `n` requests are coming (cached cues never come): stop waiting at `n`."""
        with self._cond:
            self._expected = n

    def generate(self, brief: Brief, *, seconds: float, seed: int) -> Cue:
        request = _Request(brief, seconds, seed)
        with self._cond:
            self._pending.append(request)
            self._last_arrival = time.monotonic()
            self._cond.notify_all()
            lead = not self._collecting
            if lead:
                self._collecting = True
                while len(self._pending) < self._expected:
                    left = self._last_arrival + self.quiet_s - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._pending = self._pending, []
                self._expected = max(0, self._expected - len(batch))
                self._collecting = False
        if lead:
            try:
                cues = self.backend.generate(
                    [r.brief for r in batch], seconds=[r.seconds for r in batch], seed=batch[0].seed
                )
                for r, cue in zip(batch, cues, strict=True):
                    r.cue = cue
            except BaseException as exc:  # every waiting cue fails with the batch's error
                for r in batch:
                    r.error = exc
            finally:
                for r in batch:
                    r.done.set()
        request.done.wait()
        if request.error is not None:
            raise request.error
        if request.cue is None:
            raise BackendError(f"the batch returned no cue for scene {brief.scene_id!r}")
        return request.cue


_QUEUES: dict[int, BatchQueue] = {}
_LOCK = threading.Lock()


def batch_queue(backend: Any) -> BatchQueue:
    """The one queue of a backend object (backends are built once per process)."""
    with _LOCK:
        return _QUEUES.setdefault(id(backend), BatchQueue(backend))
