"""Benchmark: how long a director's note on one cue takes, on a 60-second spot.

The bundled example (1 minute, 5 cues, the composer) is scored once (the baseline: every
cue composed), then revised as a user does it, a new `scoreflow` process each time:
a note on scene 4 (`revise --scene 4 --note ...`: that cue composed again, the others from
the cache, then mixed, muxed and delivered), the note undone (`revise --undo`: every cue
from the cache), and another take picked on a run scored with `--takes 2`. Against a
`scoreflow server` started once beforehand (as a studio keeps one), and once with the
temporary server a run starts by itself. Target: a revision of one cue under 10 s.

Usage: python bench/bench_revise.py
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from bench_cli import scoreflow  # a `scoreflow` command in a new process, timed

HERE = Path(__file__).resolve().parent.parent
TARGET_S = 10.0


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="scoreflow-bench-revise-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env |= {"SCOREFLOW_CACHE_DIR": str(work / "cache")}
    from scoreflow.tasks.audio.media import generate_video

    generate_video(work / "example.mp4", seconds=60, rate="24000/1001")
    shutil.copy(HERE / "examples" / "shots.csv", work / "shots.csv")
    note = ["--scene", "4", "--note", "no drums, more tension"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    scoreflow("server", "start", "--port", port, env=env, cwd=work)
    times: dict[str, float] = {}
    try:
        score = ["score", "example.mp4", "--shots", "shots.csv"]
        times["score (baseline)"] = scoreflow(*score, "--out", "out", env=env, cwd=work)
        times["revise: a note on one cue"] = scoreflow("revise", "out", *note, env=env, cwd=work)
        times["revise --undo"] = scoreflow("revise", "out", "--undo", env=env, cwd=work)
        scoreflow(*score, "--out", "takes", "--takes", "2", env=env, cwd=work)
        pick = ["pick", "takes", "--scene", "4", "--take", "1"]
        times["pick another take"] = scoreflow(*pick, env=env, cwd=work)
    finally:
        scoreflow("server", "stop", env=env, cwd=work)
    alone = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    again = ["revise", "out", "--scene", "2", "--note", "more hopeful"]
    temporary = scoreflow(*again, env=alone, cwd=work)
    base = times["score (baseline)"]
    print("60 s spot (the bundled example, 5 cues, composer), a new process per command")
    print(f"{'command':<28} {'s':>6} {'of the score':>13}")
    for name, took in times.items():
        print(f"{name:<28} {took:>6.1f} {took / base:>12.2f}x")
    one = times["revise: a note on one cue"]
    verdict = "meets" if one < TARGET_S else "misses"
    print(f"a revision of one cue: {one:.1f} s ({verdict} the {TARGET_S:g} s target)")
    print(f"the same kind of revision with a temporary Prefect server: {temporary:.1f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
