"""Reading the picture: speed as a multiple of real time, and peak memory against length.

    python bench/bench_picture.py [--minutes 10] [--size 1920x1080] [--rate 25]
        [--detector content] [--work DIR]

Makes (once, kept in --work) a video of lavfi sources cut together every 2-9 s, with a
sound that changes with them, at 1080p25 h264 8 Mbit/s like an editor's review copy; then
reads it as `scoreflow score` without a shot list does (`picture.read_picture`: 48x27 decoding,
frame figures, shot boundaries, the sound, spotting), each in a fresh process so its peak
memory is its own. The baseline, measured in the same run, is ffmpeg decoding the same
video to nothing (``-f null``): what any reader of every frame pays. The same is done for
a video of a fifth of the length: peak memory should not grow with the length.

The issue's target is >= 20x real time on this 2-core machine, memory flat in the length.
TransNetV2 (``--detector transnetv2``) is measured on the short video only: on a CPU it
reads about 30 frames a second.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from scoreflow.tasks.audio.media import ffmpeg_exe

SOURCES = ["testsrc2", "smptehdbars", "mandelbrot", "rgbtestsrc", "cellauto", "life",
           "color=c=0x203a60", "testsrc", "yuvtestsrc", "pal100bars"]  # fmt: skip
SOUNDS = ["anoisesrc=a=0.05:c=pink", "sine=f=220:sample_rate=48000", "anoisesrc=a=0.1:c=brown"]

READ = """
import json, resource, sys, time
from scoreflow import config
from scoreflow.tasks.picture import reading as picture
cfg = config.load_settings(None, {"picture": {"detector": sys.argv[2]}})
t = time.perf_counter()
r = picture.read_picture(sys.argv[1], settings=cfg.picture, mapping=config.styles()["picture"])
print(json.dumps({"wall_s": time.perf_counter() - t, "seconds": r.seconds,
                  "duration_s": r.source.duration_s, "shots": len(r.shots),
                  "scenes": len(r.spots), "cuts": len(r.transitions),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_video(path: Path, *, seconds: float, size: str, rate: int, seed: int = 1) -> int:
    """Cut lavfi sources together (each shot 2-9 s) with their own sounds; the cut count."""
    if path.exists():
        return -1
    rng = random.Random(seed)
    graph, inputs, t, n = [], [], 0.0, 0
    while t < seconds:
        length = min(rng.uniform(2.0, 9.0), seconds - t)
        src = SOURCES[n % len(SOURCES)]
        sep = ":" if "=" in src else "="
        inputs += ["-f", "lavfi", "-t", f"{length:.3f}", "-i", f"{src}{sep}size={size}:rate={rate}"]
        inputs += ["-f", "lavfi", "-t", f"{length:.3f}", "-i", SOUNDS[(n // 3) % len(SOUNDS)]]
        graph.append(f"[{2 * n}:v]format=yuv420p,setsar=1[v{n}];[{2 * n + 1}:a]aresample=48000,"
                     f"aformat=channel_layouts=mono[a{n}]")  # fmt: skip
        t, n = t + length, n + 1
    joined = "".join(f"[v{i}][a{i}]" for i in range(n))
    graph.append(f"{joined}concat=n={n}:v=1:a=1[v][a]")
    tmp = path.with_suffix(".partial.mp4")
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *inputs, "-filter_complex",
         ";".join(graph), "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset",
         "veryfast", "-b:v", "8M", "-maxrate", "10M", "-bufsize", "16M", "-g", "50",
         "-c:a", "aac", "-b:a", "128k", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.replace(path)
    return n - 1


def decode_floor_s(path: Path) -> float:
    """ffmpeg decoding every frame to nothing, as the baseline."""
    t = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", str(path), "-map",
                    "0:v:0", "-f", "null", "-"], check=True)  # fmt: skip
    return time.perf_counter() - t


def read(path: Path, detector: str) -> dict:
    out = subprocess.run([sys.executable, "-c", READ, str(path), detector], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--rate", type=int, default=25)
    p.add_argument("--detector", default="content", choices=("content", "transnetv2"))
    p.add_argument("--work", default="bench/.picture")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    long_s = a.minutes * 60
    videos = {f"{m:g} min": work / f"cut-{m:g}min-{a.size}-{a.rate}-8M.mp4"
              for m in (a.minutes / 5, a.minutes)}  # fmt: skip
    for (name, path), seconds in zip(videos.items(), (long_s / 5, long_s), strict=True):
        t = time.perf_counter()
        if make_video(path, seconds=seconds, size=a.size, rate=a.rate) >= 0:
            print(f"made {path} ({name}) in {time.perf_counter() - t:.0f} s")
    print(f"{'video':>8} {'detector':>11} {'x real time':>12} {'decode floor x':>15} "
          f"{'ours/floor':>11} {'picture s':>10} {'sound s':>8} {'shots':>6} {'scenes':>7} "
          f"{'peak MB':>8}")  # fmt: skip
    peaks = {}
    for name, path in videos.items():
        detectors = ["content"] + (
            ["transnetv2"]
            if a.detector == "transnetv2" and path == videos[next(iter(videos))]
            else []
        )
        for det in detectors:
            floor = decode_floor_s(path)
            r = read(path, det)
            peaks.setdefault(det, []).append(r["peak_mb"])
            print(f"{name:>8} {det:>11} {r['duration_s'] / r['wall_s']:12.1f} "
                  f"{r['duration_s'] / floor:15.1f} {r['wall_s'] / floor:11.2f} "
                  f"{r['seconds']['picture']:10.1f} {r['seconds']['sound']:8.1f} "
                  f"{r['shots']:6d} {r['scenes']:7d} {r['peak_mb']:8.0f}")  # fmt: skip
    small, big = peaks["content"]
    print(
        f"\npeak memory: {big:.0f} MB for {a.minutes:g} min against {small:.0f} MB for "
        f"{a.minutes / 5:g} min ({big / small:.2f}x for 5x the length); target >= 20x real time"
    )


if __name__ == "__main__":
    main()
