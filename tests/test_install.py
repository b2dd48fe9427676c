"""As a new user: build the wheel, install it into a fresh virtualenv with its declared
dependencies, and score the bundled example from a folder of the user's own that holds a
`tasks.py` and a `config.py`, against a `scoreflow server` started from that install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scoreflow.tasks.engines.composer.render import default_soundfont

REPO = Path(__file__).resolve().parent.parent


def sh(*args, cwd=None, env=None, timeout=900):
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the built wheel installed the ordinary way (dependencies too)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"  # a copy: the build leaves nothing in the checkout
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "out")
    shutil.copytree(REPO, src, ignore=ignore)
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps",
       "-w", root / "dist", src)  # fmt: skip
    (wheel,) = (root / "dist").glob("scoreflow-*.whl")
    sh(sys.executable, "-m", "venv", root / "venv")
    py = root / "venv" / "bin" / "python"
    sh(py, "-m", "pip", "install", "-q", "--no-compile", wheel)  # bytecode: not under test
    return root, wheel, py


def test_the_wheel_holds_only_the_scoreflow_package(installed):
    _, wheel, py = installed
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"scoreflow", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                    + ".dist-info"}  # fmt: skip
    names = zipfile.ZipFile(wheel).namelist()
    assert "scoreflow/config/defaults.toml" in names and "scoreflow/__main__.py" in names
    assert not any(n.startswith("scoreflow/tests/") for n in names)
    sh(py, "-m", "pip", "check")
    site = sh(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    for generic in ("flows", "tasks", "config"):
        assert not (Path(site.stdout.strip()) / generic).exists()


def test_score_the_example_from_a_users_folder(installed, tmp_path):
    bin_ = installed[2].parent
    py = bin_ / "python"
    work = tmp_path / "My Project"
    work.mkdir()
    # a user's own modules with our folders' names must not be imported by us
    for name in ("tasks.py", "config.py", "flows.py"):
        (work / name).write_text("raise SystemExit('the user module was imported')\n")
    shutil.copy(REPO / "examples" / "shots.csv", work / "shots.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIRTUAL_ENV"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "SCOREFLOW_CACHE_DIR": str(tmp_path / "c")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PATH": f"{bin_}:{env['PATH']}"}
    sh(py, REPO / "examples" / "make_example.py", work / "example.mp4", cwd=work, env=env)
    assert sh(bin_ / "scoreflow", "--version", cwd=work, env=env).stdout.startswith("scoreflow ")
    check = sh(bin_ / "scoreflow", "check", "--shots", "shots.csv", "--video", "example.mp4",
               cwd=work, env=env)  # fmt: skip
    font = os.path.basename(default_soundfont())  # Debian's where installed, else TimGM6mb
    assert f"backend: composer: {font}" in check.stdout and "a test chord peaks" in check.stdout
    assert ("TimGM6mb" in font) == ("TimGM6mb" in check.stderr)  # the fallback says so
    port = _free_port()
    started = sh(bin_ / "scoreflow", "server", "start", "--port", port, cwd=work, env=env)
    try:
        assert f"127.0.0.1:{port}" in started.stdout
        run = sh(bin_ / "scoreflow", "score", "example.mp4", "--shots", "shots.csv",
                 "--out", "scored", cwd=work, env=env)  # fmt: skip
        assert "temporary Prefect server" not in run.stderr  # the running one was used
        assert "[8/8] measuring the deliverables" in run.stderr
        assert "cues 5/5" in run.stderr and "Traceback" not in run.stderr
        manifest = json.loads((work / "scored" / "manifest.json").read_text())
        assert manifest["outputs"]["example.scored.mp4"]["bytes"] > 0
        runs = sh(py, "-c", FLOW_RUNS, cwd=tmp_path, env={**env, "PREFECT_API_URL":
                  f"http://127.0.0.1:{port}/api"})  # fmt: skip
        name, tags, artifacts = json.loads(runs.stdout)
        assert name.startswith("score-example-")
        assert {"scoreflow", "backend:composer", "preset:ebu-r128"} <= set(tags)
        assert {"scoreflow-summary", "scoreflow-cues", "scoreflow-report"} <= set(artifacts)
    finally:
        sh(bin_ / "scoreflow", "server", "stop", cwd=work, env=env)
    status = subprocess.run([bin_ / "scoreflow", "server", "status"], env=env, check=False)
    assert status.returncode == 3  # not running


FLOW_RUNS = """
import json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
with get_client(sync_client=True) as client:
    (run,) = client.read_flow_runs()
    arts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
    )
print(json.dumps([run.name, run.tags, [a.key for a in arts]]))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
