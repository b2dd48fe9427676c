"""Progress on the terminal: a line per stage, and a bar with a count and an ETA for the cues.

The flow reports to whatever `report_to` installed (the CLI installs a terminal printer);
elsewhere (a worker, a test) nothing is printed and the flow's log is the record. On a
terminal the count redraws one line; into a pipe or a file each step is a plain line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

BAR_WIDTH = 24


class Terminal:
    """Prints stages and counts to `stream` (a TTY gets a redrawn bar)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._label, self._total, self._done, self._t0 = "", 0, 0, 0.0

    def stage(self, index: int, total: int, text: str) -> None:
        self._write(f"[{index}/{total}] {text}\n")

    def detail(self, text: str) -> None:
        self._write(f"      {text}\n")

    def count(self, label: str, total: int) -> None:
        self._label, self._total, self._done, self._t0 = label, total, 0, time.monotonic()
        if self.tty and total:
            self._write(self._line())

    def advance(self, what: str = "") -> None:
        self._done += 1
        if self.tty:
            self._write("\r" + self._line() + ("\n" if self._done >= self._total else ""))
        else:
            self._write(self._line(what) + "\n")

    def _line(self, what: str = "") -> str:
        done, total = self._done, max(self._total, 1)
        filled = round(BAR_WIDTH * done / total)
        elapsed = time.monotonic() - self._t0
        eta = f"ETA {_clock(elapsed / done * (total - done))}" if 0 < done < total else ""
        took = f"in {_clock(elapsed)}" if done >= total else eta
        if not self.tty:
            return f"      {self._label} {done}/{self._total}{f' ({what})' if what else ''} {took}"
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"      {self._label} [{bar}] {done}/{self._total} {took:<12}"

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


_sink: Terminal | None = None


@contextmanager
def report_to(terminal: Terminal | None) -> Iterator[None]:
    """Send the flow's progress to `terminal` while the block runs."""
    global _sink
    previous, _sink = _sink, terminal
    try:
        yield
    finally:
        _sink = previous


def stage(index: int, total: int, text: str) -> None:
    if _sink:
        _sink.stage(index, total, text)


def detail(text: str) -> None:
    if _sink:
        _sink.detail(text)


def count(label: str, total: int) -> None:
    if _sink:
        _sink.count(label, total)


def advance(what: str = "") -> None:
    if _sink:
        _sink.advance(what)
