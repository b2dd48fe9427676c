"""Benchmark: long programmes, memory and time against length.

For each length (default 10, 30 and 120 minutes) a programme is generated (low-resolution
picture, a speech-like audio track, a scene every 15 s) and scored with the embedded
composer in a fresh process, so each length's peak RSS is its own. Prints, per length, the
run's wall time as a ratio of the programme's duration and the peak resident memory of
the largest process (the run itself or any ffmpeg it started), so growth with length shows
in one table. Usage: python bench/bench_long.py [--minutes 10 30 120] [--scene-s 15]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

DESCRIPTIONS = [
    "tense night chase through wet streets",
    "warm acoustic morning, gentle, hopeful",
    "corporate upbeat 120 bpm",
    "lofi study beats, rainy window",
    "ambient space drone, ethereal",
    "sad piano goodbye, slow",
]


def make_programme(work: Path, *, seconds: float, scene_s: float) -> tuple[Path, Path]:
    """A generated video with dialogue-like audio and a shot list with a scene every
    `scene_s` (every tenth scene without music)."""
    from scoreflow.tasks.audio.media import generate_video

    video = generate_video(
        work / "programme.mp4", seconds=seconds, rate="25", size="160x90", crf=40
    )
    frames = round(seconds * 25)
    step = round(scene_s * 25)
    rows = ["scene,tc_in,tc_out,description,music"]
    for i, a in enumerate(range(0, frames, step)):
        b = min(frames, a + step)
        music = "off" if i % 10 == 9 else ""
        rows.append(f'{i + 1},{_tc(a)},{_tc(b)},"{DESCRIPTIONS[i % len(DESCRIPTIONS)]}",{music}')
    shots = work / "shots.csv"
    shots.write_text("\n".join(rows) + "\n")
    return video, shots


def _tc(frame: int) -> str:
    """Timecode of a frame at 25 fps."""
    s, f = divmod(frame, 25)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"


def rss_mb() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stage_marks() -> tuple[Any, list[tuple[str, float, float]]]:
    """A progress reporter that notes (stage, time, RSS) as each stage starts, and RSS as
    every 10th cue finishes."""
    from scoreflow.flows import progress

    marks: list[tuple[str, float, float]] = []

    class Marks(progress.Terminal):
        def stage(self, index: int, total: int, text: str) -> None:
            marks.append((f"[{index}/{total}] {text}", time.perf_counter(), rss_mb()))

        def advance(self, what: str = "") -> None:
            super().advance(what)
            if self._done % 10 == 0:
                marks.append((f"    {self._done} cues", time.perf_counter(), rss_mb()))

    return Marks(io.StringIO()), marks


def one(minutes: float, scene_s: float) -> None:
    """Score one programme in this process and print its figures as JSON."""
    work = Path(tempfile.mkdtemp(prefix="scoreflow-long-"))
    os.environ["SCOREFLOW_CACHE_DIR"] = str(work / "cache")  # every cue made, none cached
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(work / "results")  # nor the picture
    from scoreflow.flows import progress
    from scoreflow.flows.score import score_video

    seconds = minutes * 60
    video, shots = make_programme(work, seconds=seconds, scene_s=scene_s)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reporter, marks = stage_marks()
    t0 = time.perf_counter()
    with progress.report_to(reporter):
        manifest = score_video(video=str(video), shots=str(shots), out=str(work / "out"), fps="25")
    wall = time.perf_counter() - t0
    starts = [t for what, t, _ in marks if what.startswith("[")]
    ends = iter([*starts[1:], t0 + wall])
    for what, t, rss in marks:
        if what.startswith("["):
            end = next(ends)
            print(f"# {what[:56]:56s} {end - t:7.1f} s, RSS {rss:6.0f} MB at its start", flush=True)
        elif os.environ.get("BENCH_LONG_CUES"):
            print(f"# {what:60s}    at {t - t0:7.1f} s, RSS {rss:6.0f} MB", flush=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "minutes": minutes,
                "scenes": len(manifest["scenes"]),
                "wall_s": wall,
                "ratio": wall / seconds,
                "rss_mb": own / 1024,
                "rss_before_run_mb": before / 1024,
                "largest_child_mb": children / 1024,
                "qc_passed": manifest["qc"]["passed"],
                "lufs": manifest["qc"]["main"]["integrated_lufs"],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[10.0, 30.0, 120.0])
    ap.add_argument("--scene-s", type=float, default=15.0)
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        one(args.one, args.scene_s)
        return
    from scoreflow.flows import server

    rows = []
    with server.temporary_server():  # one server for every length, outside the measured runs
        for minutes in args.minutes:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", str(minutes), "--scene-s", str(args.scene_s)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                sys.exit(f"{minutes} min failed:\n{proc.stderr[-3000:]}")
            lines = proc.stdout.strip().splitlines()
            print("\n".join(line for line in lines if line.startswith("#")), flush=True)
            rows.append(json.loads(lines[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'minutes':>8} {'scenes':>7} {'wall s':>8} {'x duration':>11} {'peak RSS MB':>12}")
    for r in rows:
        peak = max(r["rss_mb"], r["largest_child_mb"])
        print(
            f"{r['minutes']:8.0f} {r['scenes']:7d} {r['wall_s']:8.1f} {r['ratio']:11.4f} "
            f"{peak:12.0f}"
        )
    first, last = rows[0], rows[-1]
    if len(rows) > 1:
        growth = (
            max(last["rss_mb"], last["largest_child_mb"])
            - max(first["rss_mb"], first["largest_child_mb"])
        ) / (last["minutes"] - first["minutes"])
        print(f"peak RSS growth: {growth:.1f} MB per programme minute")


if __name__ == "__main__":
    main()
