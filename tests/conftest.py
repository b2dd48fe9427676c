"""Shared fixtures: generated media, and one Prefect test server for the session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before anything imports prefect: no telemetry, results and state in a throwaway home.
_HOME = tempfile.mkdtemp(prefix="scoreflow-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_HOME"] = _HOME
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(Path(_HOME) / "storage")
os.environ["SCOREFLOW_CACHE_DIR"] = str(Path(_HOME) / "cues")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scoreflow.tasks.audio.media import generate_video, probe  # noqa: E402
from scoreflow.tasks.timeline.model import MediaInfo  # noqa: E402

# The longest modules, longest first (minutes each on a 2-core machine). They run first, so
# that with `--dist loadfile` (`make test`) the two workers end together.
LONGEST = (
    "test_library.py",
    "test_watch.py",
    "test_shutdown.py",
    "test_install.py",
    "test_distributed.py",
    "test_picture.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST)))  # stable otherwise


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def video_25(media_dir) -> Path:
    """12 s at 25 fps with a dialogue-like track."""
    return generate_video(media_dir / "v25.mp4", seconds=12, rate="25", size="160x90")


@pytest.fixture(scope="session")
def video_2997(media_dir) -> Path:
    """8 s at 29.97 fps."""
    return generate_video(media_dir / "v2997.mp4", seconds=8, rate="30000/1001", size="160x90")


def noise(seconds: float, sr: int = 48000, *, seed: int = 0, db: float = -20.0) -> np.ndarray:
    """Stereo white noise at an RMS level of `db` dBFS, shape (2, samples), float32."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, round(seconds * sr)))
    return (x * 10 ** (db / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def aws():
    """A real S3 + SQS server (moto's, over HTTP on 127.0.0.1) the AWS clients point at."""
    from moto.server import ThreadedMotoServer

    from scoreflow.tasks.cloud import storage

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    storage.aws_client.cache_clear()
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    storage.aws_client.cache_clear()
    server.stop()


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


@pytest.fixture
def check_cli(tmp_path, capsys):
    """``scoreflow check`` of a one-scene shot list with a backend and a model: a function
    of (backend, model) that returns the exit code and what was printed on stderr."""

    def run(backend, model):
        from scoreflow.flows.cli import main

        shots = tmp_path / "s.csv"
        shots.write_text("scene,tc_in,tc_out,description\n1,0,4,rock\n")
        args = ["check", "--shots", str(shots), "--fps", "25", "--backend", backend]
        code = main([*args, "--model", model])
        return code, capsys.readouterr().err

    return run
