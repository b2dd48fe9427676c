"""Fixtures of the interchange tests: small generated videos with a start timecode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scoreflow.tasks.audio.media import generate_video, probe
from scoreflow.tasks.timeline.model import MediaInfo


@pytest.fixture
def timecoded_video(tmp_path: Path) -> Callable[..., MediaInfo]:
    """Make (and probe) a 64x36 video without audio whose first frame has timecode
    `start_tc`; other options go to `generate_video`."""

    def make(*, seconds: float, rate: str, start_tc: str, **options: Any) -> MediaInfo:
        path = tmp_path / "tc.mov"
        video = generate_video(path, seconds=seconds, rate=rate, size="64x36", dialogue=False,
                               start_tc=start_tc, **options)  # fmt: skip
        return probe(video)

    return make
