"""A Prefect server kept running between CLI runs (`scoreflow server start|stop|status`).

Without ``PREFECT_API_URL`` every Prefect run starts a temporary server of its own, which
costs 5-18 s before the first task. `scoreflow server start` starts one in the background
on 127.0.0.1, records it in ``$PREFECT_HOME/scoreflow-server.json`` and every later CLI run
uses it (its UI shows the runs, their artifacts and logs). ``PREFECT_API_URL``, when set,
always wins.

Otherwise a CLI run starts a temporary server of its own (`temporary_server`), records it
under ``$PREFECT_HOME/scoreflow-temporary/``, and stops it when it ends, also on SIGTERM or
Ctrl-C; one left behind by a run killed outright (kill -9) is stopped by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scoreflow.tasks.delivery.outdir import pid_alive
from scoreflow.tasks.errors import ToolError

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


def status() -> dict[str, Any] | None:
    """The recorded server ({"pid", "api_url", "log"}) if it is running and answers."""
    try:
        record = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    if not pid_alive(int(record.get("pid", 0))) or not healthy(str(record.get("api_url", ""))):
        return None
    return dict(record)


def start(*, port: int = DEFAULT_PORT, timeout_s: float = 90.0) -> dict[str, Any]:
    """Start a Prefect server in the background (or return the one already running)."""
    running = status()
    if running:
        return running
    api_url = f"http://127.0.0.1:{port}/api"
    if healthy(api_url):
        raise ToolError(
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
            raise ToolError(f"the Prefect server did not start; its log: {log}")
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
        if not pid_alive(int(running["pid"])):
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
        point_prefect_at(str(running["api_url"]))
        return str(running["api_url"])
    return None


def point_prefect_at(api_url: str | None) -> None:
    """Set ``PREFECT_API_URL`` (unset it for None) where Prefect reads it: the environment,
    and Prefect's process-wide settings, which it reads once at import. Without the refresh a
    process that imported Prefect first would see no API and start a second, untracked
    ephemeral server of its own (with Prefect's 20 s startup limit). Prefect's log and
    event workers are process-wide and keep the address they started with: on a change
    they are flushed to the old server and stopped, so that new ones use the new one."""
    if api_url != os.environ.get("PREFECT_API_URL") and "prefect.events.worker" in sys.modules:
        drain_workers()
    if api_url is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = api_url
    if "prefect.context" in sys.modules:
        sys.modules["prefect.context"].refresh_global_settings_context()


def temporary_dir() -> Path:
    return prefect_home() / "scoreflow-temporary"


def _is_prefect_server(pid: int) -> bool:
    """Whether `pid` runs a Prefect API server (so a reused pid is never killed)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"uvicorn" in cmdline and any(b"prefect" in part for part in cmdline)


def sweep_orphans() -> int:
    """Stop temporary servers whose CLI run is gone (killed with -9); returns how many."""
    stopped = 0
    for record in temporary_dir().glob("*.json"):
        try:
            data = json.loads(record.read_text())
            server, owner = int(data["server_pid"]), int(data["owner_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            record.unlink(missing_ok=True)
            continue
        if pid_alive(owner):
            continue
        if pid_alive(server) and _is_prefect_server(server):
            os.kill(server, signal.SIGTERM)
            stopped += 1
        record.unlink(missing_ok=True)
    return stopped


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configured_api() -> str | None:
    """The API this process already talks to: ``PREFECT_API_URL``, a recorded `scoreflow
    server`, or Prefect's own settings (a test harness, a profile); None: start one."""
    found = use_running_server()
    if found:
        return found
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def drain_workers(timeout_s: float = 5.0) -> None:
    """Flush Prefect's background log and event workers (as its test harness does before
    stopping its server): left running, they keep retrying the stopped server and hold the
    process open at exit."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout_s)


def startup_timeout_s() -> int:
    """How long a temporary server may take to answer: Prefect's own setting when the user
    set it, else 120 s, not Prefect's 20 s, which a loaded 2-core machine overruns (its
    clock counts only the 0.1 s sleeps between polls, so 20 is often 40 s or more)."""
    given = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else 120


@contextlib.contextmanager
def temporary_server() -> Iterator[str]:
    """A Prefect server for this process only (Prefect's own temporary server, started
    here so that it is known): ``PREFECT_API_URL`` points at it inside the block, and it is
    stopped when the block ends. Orphans of earlier runs are stopped first."""
    from prefect.server.api.server import SubprocessASGIServer

    sweep_orphans()
    server = SubprocessASGIServer(port=_free_port())  # its own instance, not a shared one
    timeout_s = startup_timeout_s()
    try:
        server.start(timeout=timeout_s)
    except RuntimeError as exc:
        server.stop()  # the process it started may still be coming up
        raise ToolError(
            f"the temporary Prefect server did not answer within {timeout_s} s "
            f"({str(exc)[:200]}); start one with `scoreflow server start`, or set "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher on a loaded machine"
        ) from exc
    process = server.server_process
    folder = temporary_dir()
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / f"{process.pid if process else 0}.json"
    entry = {"server_pid": process.pid if process else 0, "owner_pid": os.getpid()}
    record.write_text(json.dumps({**entry, "api_url": server.api_url}))
    previous = os.environ.get("PREFECT_API_URL")
    point_prefect_at(server.api_url)
    try:
        yield server.api_url
    finally:
        point_prefect_at(previous)  # first: what is still queued for the server goes to it
        server.stop()
        record.unlink(missing_ok=True)
