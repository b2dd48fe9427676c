"""Media facts: the ffmpeg binary, probing with PyAV, and an independent loudness meter.

ffmpeg comes from ``$SCOREFLOW_FFMPEG``, else the system's ``ffmpeg``, else the static
binary that imageio-ffmpeg ships (which has no ffprobe, so probing uses PyAV).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np

from scoreflow.tasks.cloud.storage import regular_file
from scoreflow.tasks.errors import InputError, ToolError
from scoreflow.tasks.timeline.model import MediaInfo
from scoreflow.tasks.timeline.timecode import RATES, rate_name, snap_rate


@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary scoreflow runs."""
    env = os.environ.get("SCOREFLOW_FFMPEG")
    if env:
        return env
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a dependency
        raise ToolError(
            "no ffmpeg found: install Debian's ffmpeg or `pip install imageio-ffmpeg`"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg quietly; raise ToolError with its last lines on failure."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise ToolError(f"ffmpeg failed ({proc.returncode}):\n{tail}")
    return proc


def probe(path: str | Path) -> MediaInfo:
    """Probe a video: exact rate, whole-frame duration, audio streams; refuse one with a
    variable frame rate or cut short. Once per file version in a process (`check` and the
    run that follows it share it: the completeness check reads every packet).

    Raises
    ------
    InputError
        If the file is missing, unreadable or has no video stream.
    """
    path = regular_file(Path(path), what="video")
    st = path.stat()
    return _probe(str(path), st.st_size, st.st_mtime_ns)


@contextlib.contextmanager
def video_stream(path: Path) -> Iterator[tuple[Any, Any]]:
    """``(container, first video stream)`` of a file opened with PyAV, closed after.

    Raises
    ------
    InputError
        If the file cannot be read, or has no video stream or no frame rate.
    """
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputError(f"cannot read the video: {exc}", source=str(path)) from None
    with container:
        if not container.streams.video:
            raise InputError("no video stream", source=str(path), fix="Give a video file")
        v = container.streams.video[0]
        if not (v.average_rate or v.guessed_rate or v.base_rate):
            raise InputError("the video has no frame rate", source=str(path))
        yield container, v


def stream_facts(container: Any, v: Any) -> tuple[float, str | None]:
    """(duration in seconds, the start timecode a stream or the file carries, or None)."""
    if v.duration is not None and v.time_base is not None:
        duration = float(v.duration * v.time_base)
    else:
        duration = float(container.duration or 0) / av.time_base
    tags = [v.metadata, *(s.metadata for s in container.streams), container.metadata]
    return duration, next((t["timecode"] for t in tags if t.get("timecode")), None)


@cache
def _probe(name: str, size: int, mtime_ns: int) -> MediaInfo:
    """`probe`, cached per file version (`size`, `mtime_ns`)."""
    path = Path(name)
    with video_stream(path) as (container, v):
        rate = snap_rate(Fraction(v.average_rate or v.guessed_rate or v.base_rate))
        _check_constant_rate(path, rate, v)
        duration, start_tc = stream_facts(container, v)
        frames = v.frames or round(Fraction(duration).limit_denominator(10**6) * rate)
        _check_complete(path, container, v, int(frames))
        a = container.streams.audio
        return MediaInfo(
            path=str(path),
            duration_s=float(Fraction(frames) / rate),
            rate=rate,
            frames=int(frames),
            width=v.codec_context.width,
            height=v.codec_context.height,
            video_codec=v.codec_context.name,
            container=path.suffix.lower().lstrip("."),
            audio_streams=len(a),
            audio_sample_rate=a[0].codec_context.sample_rate if a else None,
            audio_channels=a[0].codec_context.channels if a else None,
            start_tc=start_tc,
        )


def _check_constant_rate(path: Path, rate: Fraction, v: Any) -> None:
    """Refuse a variable or irregular frame rate: frames would not map to timecode (what a
    phone records, say). A usual rate, or a whole or /1001 one, passes."""
    if rate in RATES.values() or rate.denominator in (1, 1001):
        return
    raise InputError(
        f"variable or irregular frame rate ({float(rate):.3f} fps, {rate})",
        source=str(path),
        fix="Conform the video to a constant rate first, e.g. "
        "ffmpeg -i in.mp4 -vf fps=25 -c:a copy out.mp4",
    )


def _check_complete(path: Path, container: Any, v: Any, frames: int) -> None:
    """Refuse a video whose file holds fewer frames than its header promises (cut short in
    a copy or an upload): its packets are counted, not decoded."""
    found = 0
    try:
        for packet in container.demux(v):
            found += packet.size > 0
    except av.FFmpegError:
        pass  # a damaged tail: count what came before it
    if frames and found < 0.99 * frames:
        raise InputError(
            f"truncated: {found} of its {frames} frames are in the file",
            source=str(path),
            fix="Copy or upload the video again",
        )


def describe(info: MediaInfo) -> str:
    """One line for logs: ``1920x1080 h264 23.976 fps, 1439 frames (60.02 s), 1 audio``."""
    return (
        f"{info.width}x{info.height} {info.video_codec} {rate_name(info.rate)} fps, "
        f"{info.frames} frames ({info.duration_s:.2f} s), {info.audio_streams} audio"
    )


def decode_audio(
    path: str | Path, *, sample_rate: int, stream: int = 0, to: Path | None = None
) -> bytes:
    """Decode one audio stream with ffmpeg to stereo ``f32le`` at `sample_rate`: returned,
    or written straight to the file `to` (returning nothing), for programmes too long to
    hold."""
    proc = subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-i", str(path),
            "-map", f"0:a:{stream}", "-ac", "2", "-ar", str(sample_rate),
            "-f", "f32le", "-" if to is None else str(to),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise InputError(f"cannot decode audio stream {stream}: {' '.join(tail)}", source=str(path))
    return proc.stdout


def read_audio(path: str | Path, *, sample_rate: int, stream: int = 0) -> np.ndarray:
    """Decode one audio stream of any media file with ffmpeg.

    Returns
    -------
    np.ndarray, shape (channels, samples), float32
    """
    data = decode_audio(path, sample_rate=sample_rate, stream=stream)
    return np.frombuffer(data, np.float32).reshape(-1, 2).T.copy()


_EBU_I = re.compile(r"^\s*I:\s+(-?[\d.]+|-inf) LUFS", re.M)
_EBU_TP = re.compile(r"^\s*Peak:\s+(-?[\d.]+|-inf) dBFS", re.M)
_EBU_LRA = re.compile(r"^\s*LRA:\s+(-?[\d.]+) LU", re.M)
_EBU_T = re.compile(r"\bt:\s*([\d.]+)\s+TARGET:.*?\bS:\s*(-?[\d.]+|-inf)")


def measure_loudness(
    path: str | Path,
    *,
    stream: int = 0,
    curve: bool = False,
    regions_s: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Integrated loudness (LUFS), true peak (dBTP) and LRA (LU) by ffmpeg's ebur128 filter.

    This is the independent BS.1770 meter: it shares no code with the mix stage. With
    `curve`, ``short_term`` holds (seconds, short-term LUFS) every 100 ms. With
    `regions_s`, ffmpeg keeps only those spans (seconds), joined, before metering: a
    dialogue-gated measurement when they are the dialogue regions.
    """
    meter = "ebur128=peak=true"
    if regions_s:
        keep = "+".join(f"between(t,{a:.6f},{b:.6f})" for a, b in regions_s)
        meter = f"aselect='{keep}',asetpts=N/SR/TB,{meter}"
    proc = run_ffmpeg(
        [
            "-i",
            str(path),
            "-map",
            f"0:a:{stream}",
            "-filter:a",
            meter,
            "-f",
            "null",
            "-",
        ]
    )
    summary = proc.stderr[proc.stderr.rfind("Summary:") :]
    i, tp, lra = _EBU_I.search(summary), _EBU_TP.search(summary), _EBU_LRA.search(summary)
    if not i or not tp:
        raise ToolError(f"ebur128 gave no summary for {path}")
    result: dict[str, Any] = {
        "integrated_lufs": float(i[1]),
        "true_peak_dbtp": float(tp[1]),
        "lra_lu": float(lra[1]) if lra else None,
    }
    if curve:
        result["short_term"] = [(float(t), float(v)) for t, v in _EBU_T.findall(proc.stderr)]
    return result


def audio_duration_s(path: str | Path) -> float:
    """Duration of a media file's first audio stream (its packets' end), by PyAV."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        a = container.streams.audio[0]
        end = 0
        for packet in container.demux(a):
            if packet.pts is not None and packet.duration:
                end = max(end, packet.pts + packet.duration)
        return round(float(end * a.time_base), 4) if a.time_base else 0.0


def stream_hash(path: str | Path, *, stream: str = "v:0") -> str:
    """MD5 of a stream's packets (``-c copy``), to prove a stream was not re-encoded."""
    proc = run_ffmpeg(["-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f", "md5", "-"])
    return proc.stdout.strip().removeprefix("MD5=")


def generate_video(
    path: str | Path,
    *,
    seconds: float,
    rate: str = "24000/1001",
    size: str = "640x360",
    dialogue: bool = True,
    crf: int = 30,
    start_tc: str | None = None,
) -> Path:
    """Make a test video with ffmpeg's lavfi sources (for examples, tests and benchmarks).

    The picture is ``testsrc2``; the audio, when `dialogue` is set, is a quiet speech-like
    track: a gliding voiced tone with syllable-rate modulation, talking 4.5 s out of every 7.
    """
    path = Path(path)
    voice = (
        "0.05*gt(mod(t,7),2.5)*0.5*(1-cos(2*PI*4.3*t))*("
        "sin(2*PI*130*t-35.7*cos(2*PI*0.7*t))+0.5*sin(4*PI*130*t-71.4*cos(2*PI*0.7*t))"
        "+0.25*sin(6*PI*130*t-107*cos(2*PI*0.7*t)))"
    )
    args = ["-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if dialogue:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc=exprs='{voice}':sample_rate=48000:duration={seconds},"
            "highpass=f=120,lowpass=f=3500",
        ]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if dialogue:
        args += ["-c:a", "aac", "-b:a", "96k"]
    if start_tc:
        args += ["-timecode", start_tc]
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg([*args, str(path)])
    return path
