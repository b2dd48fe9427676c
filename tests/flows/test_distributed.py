"""Cue takes on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1,
reporting to a real `prefect server start` on PostgreSQL from Debian's packages (about a
second to initdb and start here; the session's SQLite server where they are missing). The
output equals the single-process run's bit for bit; a worker killed mid-run leaves a run
that completes, with no finished cue made twice."""

from __future__ import annotations

import functools
import glob
import io
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from scoreflow.flows import progress, server
from scoreflow.flows.score import score_video
from scoreflow.tasks.audio.media import generate_video
from scoreflow.tasks.cloud.storage import sha256_file
from scoreflow.tasks.engines.composer.render import bundled_soundfont

SCENES = 40
SCENE_FRAMES = 15  # 0.6 s at 25 fps
DESCRIPTIONS = ["warm acoustic morning", "tense night chase", "lofi study beats", "sad piano"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs, if installed and runnable here
    (as root, PostgreSQL must run as Debian's `postgres` user, through runuser)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        return None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return None
        if shutil.which("runuser") is None:
            return None
    return Path(found[-1]).parent


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Postgres(NamedTuple):
    url: str  # SQLAlchemy's, of the `prefect` database
    query: Callable[[str], str]  # SQL -> psql's unaligned output, in that database


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres | None]:
    """A PostgreSQL cluster of the module's own on 127.0.0.1 with a `prefect` database,
    or None where the server programs are not installed."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="scoreflow-postgres-"))  # pytest's are root's only
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "prefect",
                                 "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)  # fmt: skip
    ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    options = f"-h 127.0.0.1 -p {port} -k {folder}"
    subprocess.run(_as_postgres([*ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        _psql(bin_dir, port, "postgres", "CREATE DATABASE prefect")
        url = f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
        yield Postgres(url, functools.partial(_psql, bin_dir, port, "prefect"))
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _psql(bin_dir: Path, port: int, database: str, sql: str) -> str:
    argv = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect",
            "-d", database, "-tAc", sql]  # fmt: skip
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def api(postgres, prefect_server, tmp_path_factory) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 on the module's PostgreSQL, which the module's
    runs and the Dask workers report to; the session's (SQLite) server without one."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if postgres is None:
        yield str(PREFECT_API_URL.value())
        return
    port = _free_port()
    env = {**os.environ, "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url,
           "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180  # migrations on a loaded 2-core machine
        while not server.healthy(url):
            assert proc.poll() is None and time.monotonic() < deadline, "prefect server start"
            time.sleep(0.5)
        server.drain_workers()  # Prefect's event worker keeps the address it started with
        with temporary_settings(updates={PREFECT_API_URL: url}):  # as the harness does
            yield url
            server.drain_workers()  # what is queued for this server goes to it
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def work(tmp_path_factory, api):
    """SCOREFLOW_WORK shared by the flow and the workers (its spool), for the module."""
    folder = tmp_path_factory.mktemp("work")
    old = os.environ.get("SCOREFLOW_WORK")
    os.environ["SCOREFLOW_WORK"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("SCOREFLOW_WORK", None)
    else:
        os.environ["SCOREFLOW_WORK"] = old


@pytest.fixture(scope="module")
def cluster(work, api):
    """`dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays
    dead), with the Prefect server's address in their environment; (address, processes,
    the workers' pids)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "PREFECT_API_URL": api}
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                *common,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for name in ("w1", "w2"):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--name",
                    name,
                    "--host",
                    "127.0.0.1",
                    *common,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            pids = client.run(os.getpid)  # worker address -> pid
        yield address, procs, sorted(pids.values())
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    d = tmp_path_factory.mktemp("cut")
    video = generate_video(d / "cut.mp4", seconds=SCENES * SCENE_FRAMES / 25, rate="25",
                           size="160x90")  # fmt: skip
    rows = ["scene,tc_in,tc_out,description"]
    for i in range(SCENES):
        a, b = i * SCENE_FRAMES, (i + 1) * SCENE_FRAMES
        rows.append(f'{i + 1},{_tc(a)},{_tc(b)},"{DESCRIPTIONS[i % len(DESCRIPTIONS)]}"')
    shots = d / "shots.csv"
    shots.write_text("\n".join(rows) + "\n")
    return video, shots


def _tc(frame: int) -> str:
    s, f = divmod(frame, 25)
    return f"00:{s // 60:02d}:{s % 60:02d}:{f:02d}"


def _config(folder: Path, *, cache: str, runner: str, address: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scoreflow.toml"
    path.write_text(  # the small SoundFont: each worker process loads its own
        f'[cache]\ndir = "{folder.parent / cache}"\n'
        f'[pipeline]\nseed = 7\ntask_runner = "{runner}"\ndask_address = "{address}"\n'
        f'[composer]\nsoundfont = "{bundled_soundfont()}"\n'
    )
    return path


def _score(cut, out: Path, config: Path) -> dict:
    video, shots = cut
    return score_video(video=str(video), shots=str(shots), out=str(out), config_file=str(config))


def _outputs(out: Path) -> dict[str, str]:
    names = ["soundtrack.wav", "mix.wav", "stems/music.wav", "stems/dialogue.wav"]
    names += sorted(str(p.relative_to(out)) for p in (out / "cues").glob("*.wav"))
    return {n: sha256_file(out / n) for n in names}


def _generations(manifest: dict) -> dict[str, list[str]]:
    """Scene -> the states of its generate-cue task runs in the run."""
    flow_run_id = manifest["run_id"].rsplit("-", 1)[1]
    with get_client(sync_client=True) as client:
        flow_runs = [r for r in client.read_flow_runs() if str(r.id).startswith(flow_run_id)]
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_runs[0].id]))
        )
    out: dict[str, list[str]] = {}
    for r in runs:
        if r.name.startswith("generate-cue-"):
            out.setdefault(r.name.removeprefix("generate-cue-"), []).append(r.state.name)
    return out


@pytest.fixture(scope="module")
def single(cut, tmp_path_factory):
    d = tmp_path_factory.mktemp("single")
    return d / "out", _score(cut, d / "out", _config(d / "cfg", cache="cache", runner="thread"))


class KillAfter(progress.Terminal):
    """Progress that kills a worker (SIGKILL) when the `n`-th take is done."""

    def __init__(self, victim: subprocess.Popen, n: int) -> None:
        super().__init__(io.StringIO())
        self.victim, self.n = victim, n

    def advance(self, what: str = "") -> None:
        super().advance(what)
        if self._done == self.n:
            self.victim.send_signal(signal.SIGKILL)


@pytest.fixture(scope="module")
def distributed(cut, cluster, tmp_path_factory):
    """The cut scored on the cluster, one worker killed once 12 takes are done."""
    address, procs, pids = cluster
    d = tmp_path_factory.mktemp("dask")
    config = _config(d / "cfg", cache="cache", runner="dask", address=address)
    with progress.report_to(KillAfter(procs[2], 12)):
        manifest = _score(cut, d / "out", config)
    return d / "out", manifest, pids, procs[2]


def test_dask_run_equals_single_process_bit_for_bit(distributed, single):
    out, manifest, pids, _ = distributed
    assert manifest["qc"]["passed"]
    assert _outputs(out) == _outputs(single[0])
    by_pid = {int(w.rsplit("/", 1)[1]): n for w, n in manifest["workers"].items()}
    assert sorted(by_pid) == pids, "cues ran on both Dask workers, not in the flow's process"
    assert sum(by_pid.values()) == SCENES and min(by_pid.values()) >= 3, by_pid


def test_the_runs_are_recorded_in_postgres(distributed, postgres):
    if postgres is None:
        pytest.skip("no PostgreSQL server programs here: the runs went to the SQLite server")
    _, manifest, _, _ = distributed
    flow_run = manifest["run_id"].rsplit("-", 1)[1]
    where = f"WHERE flow_run_id::text LIKE '{flow_run}%' AND name LIKE 'take-%'"
    takes = postgres.query(f"SELECT count(*) FROM task_run {where}")
    assert int(takes) >= SCENES  # every take, and those Dask ran again after the kill


def test_a_worker_killed_mid_run_costs_no_finished_cue(distributed):
    _, manifest, _, victim = distributed
    assert victim.poll() == -signal.SIGKILL, "the second worker was killed mid-run"
    states = _generations(manifest)
    assert len(states) == SCENES
    again = []  # scenes whose cue was made twice
    for scene, seen in states.items():  # made once; a take rerun after the kill hits the cache
        assert "Completed" in seen or "Cached" in seen, (scene, seen)
        if seen.count("Completed") > 1:
            again.append(scene)
    # Prefect records a task Completed before its transaction writes the cache record: a
    # cue killed between the two is made again. The killed worker runs one take at a time,
    # so at most its take in flight can be; every cue already cached never is.
    assert len(again) <= 1, {s: states[s] for s in again}


LIBRARY = """[delivery]
main_s = 20
cutdowns_s = []
sting_s = 0
loops_bars = []
alternates = []
stems = false
formats = ["wav"]
[[tracks]]
description = "warm acoustic morning, hopeful"
[[tracks]]
description = "dark tense synth pulse"
"""


def test_library_tracks_fan_out_on_the_cluster(cluster, tmp_path):
    """Every track's first try is made on the Dask workers; the flow's own loop, which
    checks each against the earlier ones, then finds it in the cache."""
    from scoreflow.flows.library import make_library

    address = cluster[0]
    brief = tmp_path / "two.toml"
    brief.write_text(LIBRARY)
    config = _config(tmp_path / "cfg", cache="cache", runner="dask", address=address)
    catalogue = make_library(str(brief), str(tmp_path / "cat"), config_file=str(config),
                             return_state=True)  # fmt: skip
    assert catalogue.is_completed()
    doc = json.loads((tmp_path / "cat" / "catalog.json").read_text())
    assert [t["id"] for t in doc["tracks"]] == ["t001-01", "t002-01"]
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[catalogue.state_details.flow_run_id])
            )
        )
    states = sorted(r.state.name for r in runs if r.name.startswith("track-"))
    assert states == ["Cached", "Cached", "Completed", "Completed"], states
