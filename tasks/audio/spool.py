"""Audio held on disk and read in blocks: programme-long signals and finished cues.

A `DiskSignal` is raw interleaved float32 (what ffmpeg writes as ``f32le``), read and written
in blocks with plain file I/O (no memory map, so what was read once does not stay
resident). A `SpooledCue` is a cue whose body and tail wait in such a file while its
metadata travels through the flow: a long programme's cues cost disk, not memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scoreflow.tasks.audio.media import decode_audio
from scoreflow.tasks.timeline.model import Cue

BLOCK = 1 << 20  # samples a block (21.8 s at 48 kHz): 8 MB of stereo float32


@dataclass(frozen=True)
class DiskSignal:
    """(channels, samples) float32 audio in a raw interleaved file.

    Reads outside ``[0, samples)`` give silence, so a decoded track shorter than the
    picture reads as padded and a longer one as trimmed.
    """

    path: Path
    channels: int
    samples: int

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)``, shape (channels, stop - start), float32."""
        out = np.zeros((self.channels, stop - start), np.float32)
        lo, hi = max(start, 0), min(stop, self.samples)
        if lo < hi:
            frame = 4 * self.channels
            have = max(0, min(hi, self.path.stat().st_size // frame) - lo)
            if have:
                data = np.fromfile(
                    self.path, np.float32, count=have * self.channels, offset=lo * frame
                )
                out[:, lo - start : lo - start + have] = data.reshape(-1, self.channels).T
        return out


class SignalWriter:
    """Append (channels, n) blocks to a `DiskSignal` file; `close` returns the signal."""

    def __init__(self, path: Path, channels: int) -> None:
        self.path, self.channels, self.samples = path, channels, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")

    def write(self, block: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(block.T, np.float32).tobytes())
        self.samples += block.shape[-1]

    def close(self) -> DiskSignal:
        self._file.close()
        return DiskSignal(self.path, self.channels, self.samples)

    def __enter__(self) -> SignalWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()


def decode_to_disk(
    media: Path, path: Path, *, sample_rate: int, samples: int, stream: int = 0
) -> DiskSignal:
    """One audio stream of `media` decoded by ffmpeg straight into a stereo `DiskSignal`
    at `sample_rate` (the samples `media.read_audio` gives), read as `samples` long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    decode_audio(media, sample_rate=sample_rate, stream=stream, to=path)
    return DiskSignal(path, 2, samples)


@dataclass(frozen=True)
class SpooledCue:
    """A cue whose audio (body, then tail) lies in a `DiskSignal` file.

    `cue` is the cue's metadata with empty audio; `lufs` its body's integrated loudness,
    measured before it was spooled (what `mix.level` would measure).
    """

    cue: Cue
    signal: DiskSignal
    body: int
    tail: int
    lufs: float

    @property
    def scene_id(self) -> str:
        return self.cue.scene_id

    @property
    def samples(self) -> int:
        return self.body

    @property
    def tail_samples(self) -> int:
        return self.tail

    @property
    def sample_rate(self) -> int:
        return self.cue.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of the body followed by the tail."""
        return self.signal.read(start, stop)

    def load(self) -> Cue:
        """The whole cue back in memory."""
        both = self.signal.read(0, self.body + self.tail)
        return dataclasses.replace(self.cue, audio=both[:, : self.body], tail=both[:, self.body :])

    def metadata(self) -> dict[str, Any]:
        """`Cue.metadata`, the samples being the body's."""
        return {**self.cue.metadata(), "samples": self.body}

    def with_metrics(self, **metrics: Any) -> SpooledCue:
        """The same cue with `metrics` added to its own."""
        cue = dataclasses.replace(self.cue, metrics={**self.cue.metrics, **metrics})
        return dataclasses.replace(self, cue=cue)


def spool(cue: Cue, folder: Path, *, lufs: float) -> SpooledCue:
    """Write `cue`'s audio to a file in `folder` (named by its content, so equal cues
    share one) and return it spooled."""
    both = np.concatenate([cue.audio, cue.tail], axis=-1).astype(np.float32, copy=False)
    data = np.ascontiguousarray(both.T).tobytes()
    path = folder / (hashlib.sha256(data).hexdigest()[:32] + ".f32")
    if not path.exists():  # takes running at once may make the same cue: each its own part
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.stem, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    empty = np.zeros((cue.audio.shape[0], 0), np.float32)
    meta = dataclasses.replace(cue, audio=empty, tail=empty)
    signal = DiskSignal(path, both.shape[0], both.shape[-1])
    return SpooledCue(meta, signal, cue.samples, cue.tail_samples, lufs)


def sweep(folder: Path, *, older_than_s: float = 86400.0) -> list[Path]:
    """Remove the run spools under `folder` untouched for `older_than_s` (what a killed
    run left: a finished one removes its own); returns those removed."""
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than_s
    stale = [p for p in folder.iterdir() if p.is_dir() and p.stat().st_mtime < cutoff]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale
