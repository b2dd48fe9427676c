"""Benchmark: the mix stage on a long programme, against ffmpeg measured in the same run.

Makes N minutes of a dialogue-like track and a music bed, then times
- our BS.1770-4 integrated loudness against ffmpeg's ebur128 reading the same WAV
  (the values must agree within 0.1 LU);
- dialogue detection, and the whole `mix_programme` (ducking, mix, two-pass normalisation
  and true-peak limiting, both to EBU R128 and dialogue-gated to -27), as multiples of real
  time, and the same mix in blocks from disk with its WAVs written (`tasks.audio.blocks`, what
  the flow runs) as a ratio of the in-memory one.

Usage: python bench/bench_mix.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from scoreflow.tasks.audio.blocks import mix_programme_blocked
from scoreflow.tasks.audio.media import generate_video, measure_loudness
from scoreflow.tasks.audio.mix import Mixing, integrated_lufs, mix_programme
from scoreflow.tasks.audio.speech import dialogue_track
from scoreflow.tasks.audio.spool import DiskSignal, SignalWriter
from scoreflow.tasks.delivery.deliver import write_programme

SR = 48000


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def _to_disk(path: Path, audio: np.ndarray) -> DiskSignal:
    with SignalWriter(path, audio.shape[0]) as writer:
        writer.write(audio)
        return writer.close()


def _blocked(music: DiskSignal, dialogue: DiskSignal, work: Path, mixing: Mixing) -> None:
    """The blocked mix, its WAVs written as the flow writes them."""
    programme = mix_programme_blocked(music, dialogue, mixing=mixing, work=work / "gain")
    write_programme(work / "out", programme, SR, subtype="PCM_24")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    seconds = args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="scoreflow-bench-mix-"))
    video = generate_video(work / "talk.mp4", seconds=seconds, rate="25", size="64x36", crf=51)
    n = round(seconds * SR)
    (dialogue, regions), t_detect = timed(dialogue_track, video, sample_rate=SR, samples=n)
    t = np.arange(n) / SR
    rng = np.random.default_rng(0)
    bed = 0.05 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.1 * t))
    music = np.stack([bed, bed]) + 0.01 * rng.standard_normal((2, n))
    music = music.astype(np.float32)

    wav = work / "music.wav"
    soundfile.write(wav, music.T, SR, subtype="FLOAT")
    ours, t_ours = timed(integrated_lufs, music, SR)
    ref, t_ref = timed(measure_loudness, wav)
    print(
        f"integrated loudness of {seconds:.0f} s stereo: ours {ours:.2f} LUFS in {t_ours:.2f} s, "
        f"ffmpeg ebur128 {ref['integrated_lufs']:.1f} LUFS in {t_ref:.2f} s "
        f"= {t_ref / t_ours:.1f}x faster (agree: {abs(ours - ref['integrated_lufs']) <= 0.1})"
    )
    print(
        f"dialogue detection: {t_detect:.2f} s incl. decoding = "
        f"{seconds / t_detect:.0f}x real time ({len(regions)} regions)"
    )
    music_file = _to_disk(work / "music.f32", music)
    dialogue_file = _to_disk(work / "dialogue.f32", dialogue)
    for name, target, tp, gated in (
        ("ebu-r128", -23.0, -1.0, False),
        ("netflix", -27.0, -2.0, True),
    ):
        mixing = Mixing(
            sample_rate=SR, regions=regions, target_lufs=target, true_peak_dbtp=tp,
            dialogue_gated=gated,
        )  # fmt: skip
        _, took = timed(mix_programme, music, dialogue, mixing=mixing)
        print(f"mix_programme to {name}: {took:.2f} s = {seconds / took:.0f}x real time")
        _, blocked = timed(_blocked, music_file, dialogue_file, work, mixing)
        print(
            f"  in blocks from disk (tasks.blocks), written: {blocked:.2f} s = "
            f"{seconds / blocked:.0f}x real time, {blocked / took:.2f}x the in-memory time "
            f"(which writes nothing)"
        )


if __name__ == "__main__":
    main()
