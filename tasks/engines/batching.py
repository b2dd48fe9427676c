"""Batching for the engines that batch (``batched = True``): concurrent single-cue
requests gathered into as few `generate` calls as possible (`BatchQueue`), and a call's
cues grouped by length (`batches`) with a batch that runs out of memory split in halves
(`split_on_oom`).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scoreflow.tasks.errors import BackendError
from scoreflow.tasks.timeline.model import Brief, Cue

T = TypeVar("T")


def batches(seconds: Sequence[float], *, max_batch: int, spread: float = 1.5) -> list[list[int]]:
    """Indices grouped for batched generation: by length, at most `max_batch` a batch, the
    longest in a batch at most `spread` times its shortest (each is trimmed to its own)."""
    groups: list[list[int]] = []
    for i in sorted(range(len(seconds)), key=lambda i: seconds[i]):
        g = groups[-1] if groups else None
        if g and len(g) < max_batch and seconds[i] <= spread * seconds[g[0]]:
            g.append(i)
        else:
            groups.append([i])
    return groups


def split_on_oom(run: Callable[[list[T]], list[Any]], items: list[T]) -> list[Any]:
    """``run(items)``; when it runs out of memory, run each half on its own, recursively."""
    import torch  # only engines that made sure it is there call this

    try:
        return run(items)
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in str(exc):
            raise
        if len(items) == 1:
            raise BackendError(
                "out of memory generating a single cue: use a smaller model, "
                "musicgen.dtype = 'fp16' or 'bf16', a shorter musicgen.window_s, or the CPU"
            ) from None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(items) // 2
        return split_on_oom(run, items[:half]) + split_on_oom(run, items[half:])


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
