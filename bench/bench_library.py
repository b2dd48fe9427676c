"""Library throughput and memory: finished tracks (every version) per core-hour, and peak
memory against the number of tracks.

    python bench/bench_library.py [--tracks 4] [--main-s 150]

Tracks are made as `scoreflow library` makes them (`catalogue.TrackBuilder`: main,
cutdowns 60/30/15/6 s, sting, loops of 4/8/16 bars, three alternate mixes, stems, WAV and
MP3, measured tags, ffmpeg loudness), one after another in one process pinned to one core,
without Prefect (its overhead is per run, not per track). The baseline is the same tracks'
own audio: seconds of finished audio written per second of work. Peak RSS is read after
each track, so growth with the number of tracks is visible in one run; the issue's target
is >= 300 tracks per core-hour and memory flat in the number of tracks.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import soundfile

from scoreflow import config
from scoreflow.tasks.backends.composer import Composer
from scoreflow.tasks.catalogue import TrackBuilder
from scoreflow.tasks.library import delivery, read_brief

GRID = """
[grid]
genres = ["cinematic", "electronic", "rock", "lofi", "corporate", "acoustic", "jazz", "ambient"]
moods = ["tense", "happy"]
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=4)
    ap.add_argument("--main-s", type=float, default=150.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cfg = config.load_config()
    cfg["library"]["main_s"] = args.main_s
    work = Path(tempfile.mkdtemp(prefix="bench-library-"))
    brief = work / "grid.toml"
    brief.write_text(GRID)
    plan = read_brief(brief, cfg=cfg, vocab=config.styles(), tracks=args.tracks)
    d = delivery(plan.delivery.to_dict(), source="bench")
    composer = Composer.from_config(cfg)
    print(
        f"{args.tracks} tracks, main {args.main_s:g} s, {len(plan.versions())} versions each, "
        f"SoundFont {composer.model}, one core"
    )
    print("track                     genre        work s  audio s  files  x real time  peak RSS MB")
    total_work = total_audio = 0.0
    for spec in plan.tracks:
        t0 = time.process_time()
        folder = work / "tracks" / spec.id
        record = TrackBuilder(
            composer, spec, d, folder, seed=spec.seed, title=spec.id, versions=plan.versions()
        ).build()
        took = time.process_time() - t0
        audio = sum(
            soundfile.info(work / r["file"]).duration
            for r in record["rows"]
            if r["format"] in ("wav", "stem")
        )
        total_work += took
        total_audio += audio
        files = len(record["rows"])
        print(
            f"{spec.id:<25} {spec.brief.genre:<12} {took:7.1f} {audio:8.0f} {files:6d} "
            f"{audio / took:11.1f} {peak_rss_mb():12.0f}"
        )
        for path in folder.rglob("*"):  # keep the disk flat too
            if path.is_file():
                path.unlink()
    per_hour = 3600 * len(plan.tracks) / total_work
    print(
        f"\n{per_hour:.0f} finished tracks per core-hour (target >= 300: {per_hour / 300:.2f}x); "
        f"{total_audio / total_work:.1f} s of finished audio per CPU second; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
