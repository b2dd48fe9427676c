"""Benchmark: batch throughput, `score_new` (what `scoreflow batch` runs) at concurrency 1
and 2 on the same cuts, measured in the same run.

Makes `--cuts` generated cuts of `--minutes` each (a scene every 15 s, dialogue-like audio)
in one folder, scores them all once per concurrency (each pass from an empty cue cache and
ledger), and prints cuts per hour for each and their ratio. Usage:
python bench/bench_batch.py [--cuts 20] [--minutes 1] [--concurrency 1 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from bench_long import make_programme


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuts", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scoreflow-batch-"))
    drop = work / "drop"
    drop.mkdir()
    one = work / "one"
    one.mkdir()
    video, shots = make_programme(one, seconds=args.minutes * 60, scene_s=15.0)
    for i in range(args.cuts):  # the same picture, other words: every cut makes its own music
        shutil.copy(video, drop / f"cut{i:02d}.mp4")
        text = shots.read_text().replace('",', f' take {i}",')
        (drop / f"cut{i:02d}.csv").write_text(text)

    from scoreflow.flows import server
    from scoreflow.flows.watch import score_new

    rates = {}
    with server.temporary_server():
        for n in args.concurrency:
            os.environ["SCOREFLOW_CACHE_DIR"] = str(work / f"cache-{n}")
            t0 = time.perf_counter()
            report = score_new(
                str(drop), out=str(work / f"out-{n}"), state=str(work / f"ledger-{n}"),
                concurrency=n,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            scored = sum(r["what"] == "scored" for r in report)
            if scored != args.cuts:
                raise SystemExit(f"concurrency {n}: {scored} of {args.cuts} scored: {report}")
            rates[n] = 3600 * scored / wall
            print(f"concurrency {n}: {scored} cuts in {wall:.1f} s = {rates[n]:.0f} cuts/hour",
                  flush=True)  # fmt: skip
    base = rates[args.concurrency[0]]
    for n, rate in rates.items():
        print(f"concurrency {n}: {rate / base:.2f}x concurrency {args.concurrency[0]}")


if __name__ == "__main__":
    main()
