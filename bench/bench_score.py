"""Benchmark: score a generated 10-minute, 40-scene cut.

Prints the whole run's wall time as a ratio of the cut's duration, each stage's share,
and the mux time as a ratio of a bare ``ffmpeg -c copy`` of the same inputs, measured in the
same run. Usage: python bench/bench_score.py [--minutes 10] [--scenes 40]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from scoreflow.tasks.audio.media import generate_video, probe, run_ffmpeg
from scoreflow.tasks.audio.mux import mux

DESCRIPTIONS = [
    "tense night chase through wet streets, builds to a crash",
    "warm acoustic morning, gentle, hopeful",
    "corporate upbeat ukulele 120 bpm",
    "lofi study beats, rainy window",
    "smoky jazz lounge, late night",
    "ambient space drone, ethereal",
    "rock anthem, driving guitars",
    "electronic club, energetic synths",
    "sad piano goodbye, slow",
    "triumphant orchestral finale",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--scenes", type=int, default=40)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scoreflow-bench-"))
    seconds = args.minutes * 60
    t0 = time.perf_counter()
    video = generate_video(work / "cut.mp4", seconds=seconds, rate="25", size="320x180", crf=35)
    print(f"made {seconds:.0f} s test cut in {time.perf_counter() - t0:.1f} s")

    frames = probe(video).frames
    bounds = [round(i * frames / args.scenes) for i in range(args.scenes + 1)]
    rows = ["scene,tc_in,tc_out,description,music"]
    for i in range(args.scenes):
        music = "off" if i % 10 == 9 else ""
        rows.append(
            f"{i + 1},{bounds[i] / 25:.2f},{bounds[i + 1] / 25:.2f},"
            f'"{DESCRIPTIONS[i % len(DESCRIPTIONS)]}",{music}'
        )
    shots = work / "shots.csv"
    shots.write_text("\n".join(rows) + "\n")

    from scoreflow.flows.score import score_video

    out = work / "out"
    t0 = time.perf_counter()
    score_video(video=str(video), shots=str(shots), out=str(out), fps="25")
    wall = time.perf_counter() - t0

    info = probe(video)
    t0 = time.perf_counter()
    mux(video, out / "soundtrack.wav", work / "ours.mp4", media=info)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_ffmpeg(
        [
            "-y",
            "-i",
            str(video),
            "-i",
            str(out / "soundtrack.wav"),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-c",
            "copy",
            str(work / "bare.mov"),
        ]
    )
    bare = time.perf_counter() - t0
    print(
        f"score_video: {wall:.1f} s wall for {seconds:.0f} s of picture "
        f"= {wall / seconds:.3f} x real time ({seconds / wall:.1f}x faster than real time)"
    )
    print(
        f"mux: {ours:.2f} s vs bare ffmpeg -c copy {bare:.2f} s = {ours / bare:.2f}x "
        "(ours encodes AAC; the bare copy keeps PCM)"
    )
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
