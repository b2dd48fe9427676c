"""A Prefect server kept running between CLI runs (`scoreflow server start|stop|status`).

Without ``PREFECT_API_URL`` every Prefect run starts a temporary server of its own, which
costs 5-18 s before the first task. `scoreflow server start` starts one in the background
on 127.0.0.1, records it in ``$PREFECT_HOME/scoreflow-server.json`` and every later CLI run
uses it (its UI shows the runs, their artifacts and logs). ``PREFECT_API_URL``, when set,
always wins.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from scoreflow.tasks.errors import ScoreflowError

DEFAULT_PORT = 4200


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def state_file() -> Path:
    return prefect_home() / "scoreflow-server.json"


def healthy(api_url: str, *, timeout_s: float = 2.0) -> bool:
    """Whether a Prefect API answers its health check at `api_url`."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status() -> dict[str, Any] | None:
    """The recorded server ({"pid", "api_url", "log"}) if it is running and answers."""
    try:
        record = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(record.get("pid", 0))) or not healthy(str(record.get("api_url", ""))):
        return None
    return dict(record)


def start(*, port: int = DEFAULT_PORT, timeout_s: float = 90.0) -> dict[str, Any]:
    """Start a Prefect server in the background (or return the one already running)."""
    running = status()
    if running:
        return running
    api_url = f"http://127.0.0.1:{port}/api"
    if healthy(api_url):
        raise ScoreflowError(
            f"something else already answers on port {port}: use it with "
            f"PREFECT_API_URL={api_url}, or pick another port with --port"
        )
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "scoreflow-server.log"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while not healthy(api_url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise ScoreflowError(f"the Prefect server did not start; its log: {log}")
        time.sleep(0.5)
    record = {"pid": proc.pid, "api_url": api_url, "log": str(log)}
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(state_file())
    return record


def stop() -> bool:
    """Stop the recorded server; False when none was running."""
    running = status()
    state_file().unlink(missing_ok=True)
    if not running:
        return False
    os.killpg(int(running["pid"]), signal.SIGTERM)
    for _ in range(50):
        if not _alive(int(running["pid"])):
            break
        time.sleep(0.1)
    return True


def use_running_server() -> str | None:
    """Point this process at the recorded server when ``PREFECT_API_URL`` is unset.

    Returns the API URL used, or None (Prefect will start a temporary server)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    running = status()
    if running:
        os.environ["PREFECT_API_URL"] = str(running["api_url"])
        return str(running["api_url"])
    return None
