"""Benchmark: what a person waits for at the terminal, with and without a running server.

Times `scoreflow score` end to end as a user runs it (a new process each time) on the
bundled example (`make demo`: 1 minute, 5 cues) and on a 5-cue, 20 s cut: first the way
every run used to go, a temporary Prefect server started by the run itself (the baseline),
then against a `scoreflow server` started once beforehand. Each run scores into a new
folder with a new cue cache, so both cases compose every cue. Prints seconds, best of
--runs, and the ratio baseline / with the server.
Usage: python bench/bench_cli.py [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SHORT = """scene,tc_in,tc_out,description
1,0,4,warm acoustic morning
2,4,8,tense chase
3,8,12,smoky jazz
4,12,16,lofi beats
5,16,20,triumphant finale
"""


def scoreflow(*args: str, env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "scoreflow", *args], env=env, cwd=cwd,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return time.perf_counter() - t


def best(runs: int, cases: dict[str, list[str]], env: dict[str, str], work: Path) -> dict:
    times: dict[str, float] = {}
    for name, args in cases.items():
        for i in range(runs):
            out = work / f"out-{name}-{len(times)}-{i}-{time.monotonic_ns()}"
            run_env = {**env, "SCOREFLOW_CACHE_DIR": str(out) + "-cache"}
            took = scoreflow("score", *args, "--out", str(out), env=run_env, cwd=work)
            times[name] = min(times.get(name, took), took)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scoreflow-bench-cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    from scoreflow.tasks.audio.media import generate_video

    example = work / "example.mp4"
    generate_video(example, seconds=60, rate="24000/1001")
    shutil.copy(HERE / "examples" / "shots.csv", work / "shots.csv")
    generate_video(work / "short.mp4", seconds=20, rate="25", size="320x180")
    (work / "short.csv").write_text(SHORT)
    cases = {
        "example (make demo)": ["example.mp4", "--shots", "shots.csv"],
        "5-cue 20 s cut": ["short.mp4", "--shots", "short.csv"],
    }
    before = best(args.runs, cases, env, work)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    t = time.perf_counter()
    scoreflow("server", "start", "--port", port, env=env, cwd=work)
    started = time.perf_counter() - t
    try:
        after = best(args.runs, cases, env, work)
    finally:
        scoreflow("server", "stop", env=env, cwd=work)
    print(f"scoreflow score, a new process per run, best of {args.runs} (s)")
    print(f"{'case':<22} {'temporary server':>17} {'running server':>15} {'ratio':>6}")
    for name in cases:
        print(f"{name:<22} {before[name]:>17.1f} {after[name]:>15.1f} "
              f"{before[name] / after[name]:>5.2f}x")  # fmt: skip
    print(f"(`scoreflow server start` itself took {started:.1f} s, once)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
