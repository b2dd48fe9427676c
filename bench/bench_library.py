"""Library throughput and memory: finished tracks (every version) per core-hour, and peak
memory against the number of tracks.

    python bench/bench_library.py [--tracks 4] [--main-s 150] [--cutdowns-s 60 30 15 6]
        [--loops-bars 4 8 16]

(memory against many tracks: --tracks 30 --main-s 30 --cutdowns-s 15 6 --loops-bars 4)

Tracks are made as `scoreflow library` makes them (`catalogue.TrackBuilder`: main,
cutdowns 60/30/15/6 s, sting, loops of 4/8/16 bars, three alternate mixes, stems, WAV and
MP3, measured tags, ffmpeg loudness), one after another in one process pinned to one core,
without Prefect (its overhead is per run, not per track); CPU time counts ffmpeg's too
(its finished children), and is broken down by stage. The baseline is the same tracks' own
audio: seconds of finished audio written per second of work. Peak RSS is read after each
track, so growth with the number of tracks is visible in one run; the issue's target is
>= 300 tracks per core-hour and memory flat in the number of tracks.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import tempfile
from pathlib import Path
from typing import Any

import soundfile

from scoreflow import config
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.engines.composer.versions import TrackArranger, energy_index, seam_levels
from scoreflow.tasks.library import catalogue, tagging
from scoreflow.tasks.library.catalogue import TrackBuilder
from scoreflow.tasks.library.plan import delivery, read_brief

GRID = """
[grid]
genres = ["cinematic", "electronic", "rock", "lofi", "corporate", "acoustic", "jazz", "ambient"]
moods = ["tense", "happy"]
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process and of its finished children (ffmpeg)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


STAGES: dict[str, float] = {}


def timed(owner: Any, name: str, stage: str) -> None:
    """Count the CPU seconds (ours and ffmpeg's) spent in ``owner.name`` under `stage`."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = cpu_s()
        try:
            return inner(*args, **kwargs)
        finally:
            STAGES[stage] = STAGES.get(stage, 0.0) + cpu_s() - t0

    setattr(owner, name, wrapper)


def instrument() -> None:
    """Where a track's time goes: rendering (synthesis and production of every version's
    stems), levelling (loudness and true-peak limiting), tag measurement (tempo and key by
    librosa), the independent meter (ffmpeg ebur128 on every WAV and MP3), MP3 encoding."""
    timed(TrackArranger, "stems", "render")
    timed(catalogue, "level", "level")
    timed(catalogue, "measured_tags", "measure tags")
    timed(catalogue, "measure_loudness", "ffmpeg meter")
    timed(tagging, "encode_mp3", "mp3 encode")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=4)
    ap.add_argument("--main-s", type=float, default=150.0)
    ap.add_argument("--cutdowns-s", type=float, nargs="*", help="default: the config's")
    ap.add_argument("--loops-bars", type=int, nargs="*", help="default: the config's")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    lengths = {"main_s": [args.main_s, args.main_s], "cutdowns_s": args.cutdowns_s,
               "loops_bars": args.loops_bars}  # fmt: skip
    cfg = config.load_settings(None, {"library": lengths})  # None: the config's
    work = Path(tempfile.mkdtemp(prefix="bench-library-"))
    brief = work / "grid.toml"
    brief.write_text(GRID)
    plan = read_brief(brief, cfg=cfg, vocab=config.styles(), tracks=args.tracks)
    d = delivery(plan.delivery.to_dict(), source="bench")
    composer = Composer.from_config(cfg)
    composer.self_check()  # the SoundFont loaded before the clock starts
    instrument()
    print(
        f"{args.tracks} tracks, main {args.main_s:g} s, {len(plan.versions())} versions each, "
        f"SoundFont {composer.model}, one core"
    )
    print("track                     genre        work s  audio s  files  x real time  peak RSS MB")
    total_work = total_audio = 0.0
    seams: list[tuple[str, float, float]] = []
    for spec in plan.tracks:
        t0 = cpu_s()
        folder = work / "tracks" / spec.id
        record = TrackBuilder(
            composer, spec, d, folder, seed=spec.seed, title=spec.id, versions=plan.versions()
        ).build()
        took = cpu_s() - t0
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
        seams += loop_seams(work, record["rows"])
        for path in folder.rglob("*"):  # keep the disk flat too
            if path.is_file():
                path.unlink()
    per_hour = 3600 * len(plan.tracks) / total_work
    print(
        f"\n{per_hour:.0f} finished tracks per core-hour (target >= 300: {per_hour / 300:.2f}x); "
        f"{total_audio / total_work:.1f} s of finished audio per CPU second; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    if seams:
        worst = max(seams, key=lambda s: s[1] - s[2])
        print(
            f"loop seams ({len(seams)} loops): level change at the seam (last 0.25 s to first) "
            f"{max(s[1] for s in seams):.2f} dB at most; worst against the loop's own largest "
            f"step: {worst[0]} {worst[1]:.2f} dB vs {worst[2]:.2f} dB"
        )
    print("CPU a track by stage (ours and ffmpeg's):")
    for stage, seconds in STAGES.items():
        share = seconds / total_work
        print(f"  {stage:<14} {seconds / len(plan.tracks):7.1f} s  {share:5.1%}")
    floor = STAGES.get("ffmpeg meter", 0) + STAGES.get("mp3 encode", 0)
    if floor:
        print(
            f"  ffmpeg alone (meter + MP3) bounds the rate at "
            f"{3600 * len(plan.tracks) / floor:.0f} tracks per core-hour"
        )


def loop_seams(work: Path, rows: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(file, level change at its seam, largest change between quarter seconds inside) of
    each loop WAV, in dB: measured on the file as written."""
    out = []
    for r in rows:
        if r["kind"] == "loop" and r["format"] == "wav":
            audio, sr = soundfile.read(work / r["file"], dtype="float32", always_2d=True)
            jump, inner = seam_levels(
                energy_index(audio.T, sr), 0.0, audio.shape[0] / sr, sample_rate=sr
            )
            out.append((Path(r["file"]).name, jump, inner))
    return out


if __name__ == "__main__":
    main()
