"""Runs that are stopped: SIGTERM unwinds (no stage, lock, partial file or server left); a
run killed with -9 leaves its server and stage behind, and the next run sweeps them, takes
the cues from the cache and leaves a folder that matches its manifest."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHOTS = """scene,tc_in,tc_out,description
1,00:00:00:00,00:00:06:00,"warm acoustic morning, gentle"
2,00:00:06:00,00:00:12:00,"tense night chase, builds"
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def _prefect_servers_started_by(pid: int) -> list[int]:
    """The Prefect API servers (uvicorn) whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"uvicorn" in cmdline and b"prefect" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "SCOREFLOW_CACHE_DIR": str(tmp_path / "c")}
    return env


def start(video, shots, out, env):
    command = [sys.executable, "-m", "scoreflow", "score", str(video), "--shots", str(shots),
               "--out", str(out)]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


def wait_for(proc, marker, timeout_s=240):
    deadline, seen = time.monotonic() + timeout_s, []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if marker in line:
            return "".join(seen)
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{marker!r} never came:\n{''.join(seen)[-3000:]}")


def servers(env):
    folder = Path(env["PREFECT_HOME"]) / "scoreflow-temporary"
    return [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []


def test_sigterm_and_kill_9(tmp_path, video_25, cli_env):
    shots = tmp_path / "shots.csv"
    shots.write_text(SHOTS)
    out = tmp_path / "out"
    proc = start(video_25, shots, out, cli_env)
    wait_for(proc, "[5/8]")
    (server,) = servers(cli_env)
    assert _prefect_servers_started_by(proc.pid) == [server["server_pid"]]  # Prefect's own: none
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143 and "stopped (terminated)" in rest, rest
    assert "Traceback" not in rest
    assert sorted(p.name for p in out.iterdir()) == []  # no stage, no lock, no partial file
    assert servers(cli_env) == [] and not _alive(server["server_pid"])

    proc = start(video_25, shots, out, cli_env)
    wait_for(proc, "[5/8]")
    (orphan,) = servers(cli_env)
    proc.kill()
    proc.wait(timeout=30)
    assert _alive(orphan["server_pid"])  # what kill -9 leaves: the server, a stage, a lock
    assert {p.name.split("-")[0] for p in out.iterdir()} == {".scoreflow", ".scoreflow.lock"}

    proc = start(video_25, shots, out, cli_env)
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, text[-3000:]
    assert "0 generated, 2 from cache" in text
    assert not _alive(orphan["server_pid"]) and servers(cli_env) == []
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    check = subprocess.run([sys.executable, "-m", "scoreflow", "verify", str(out)], env=cli_env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert check.returncode == 0, check.stdout


LIBRARY = """[delivery]
main_s = 20
cutdowns_s = []
sting_s = 0
loops_bars = []
alternates = []
stems = false
formats = ["wav"]
[grid]
genres = ["cinematic", "rock"]
moods = ["calm"]
"""


def test_a_library_run_killed_9_resumes_without_making_a_finished_track_again(tmp_path, cli_env):
    brief = tmp_path / "grid.toml"
    brief.write_text(LIBRARY)
    out = tmp_path / "cat"
    command = [sys.executable, "-m", "scoreflow", "library", str(brief), "--out", str(out)]
    proc = subprocess.Popen(command, env=cli_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    wait_for(proc, "tracks 1/2")  # the first track is finished and placed in the stage
    proc.kill()
    proc.wait(timeout=30)
    assert not (out / "catalog.json").exists()  # nothing claimed by the killed run
    made = sorted((Path(cli_env["SCOREFLOW_CACHE_DIR"]) / "library").glob("*/tracks/*/*.wav"))
    first = {p: p.stat().st_mtime_ns for p in made if "cinematic-calm-01" in p.name}
    assert first

    done = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(p.stat().st_mtime_ns == m for p, m in first.items())  # taken from the cache
    cat = json.loads((out / "catalog.json").read_text())
    assert [t["id"] for t in cat["tracks"]] == ["cinematic-calm-01", "rock-calm-01"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the stage swept
    for t in cat["tracks"]:
        assert all((out / r["file"]).is_file() for r in t["rows"])
