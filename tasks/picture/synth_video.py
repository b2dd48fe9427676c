"""Generated videos whose cuts are known to the frame, for tests, examples and benchmarks.

Each shot is one of ffmpeg's lavfi sources (or a colour); the transitions between them
(hard cuts, dissolves, fades through black) are composed here, frame by frame, so the
truth is exact, and the result is encoded with libx264. Audio, when asked for, is one lavfi
audio source per shot (an ambience, a voice), joined at the same frames.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from scoreflow.tasks.audio.media import ffmpeg_exe, run_ffmpeg

VOICE = (
    "0.08*gt(mod(t,3),0.4)*0.5*(1-cos(2*PI*4.3*t))*("
    "sin(2*PI*130*t-35.7*cos(2*PI*0.7*t))+0.5*sin(4*PI*130*t-71.4*cos(2*PI*0.7*t))"
    "+0.25*sin(6*PI*130*t-107*cos(2*PI*0.7*t)))"
)  # a speech-like voice: a gliding voiced tone at syllable rate, pausing 0.4 s in 3


SEEDED = ("life", "cellauto")


@dataclass(frozen=True)
class Shot:
    source: str  # a lavfi video source with its options, e.g. "testsrc2", "mandelbrot"
    frames: int
    into: str = "cut"  # the transition into it: cut | dissolve | fade
    into_frames: int = 0  # its length (a dissolve overlaps the shots; a fade dips to black)
    sound: str = ""  # a lavfi audio source for it, e.g. "anoisesrc=a=0.05:c=pink"; "" silence
    flash: tuple[int, ...] = ()  # frames of the shot turned white (a flash)
    filters: str = ""  # lavfi filters after the source, e.g. "geq=..." (a moving grating)


@dataclass(frozen=True)
class Truth:
    """Where each transition landed: `frame` starts the next shot; ``[start, end)``."""

    kind: str
    frame: int
    start: int
    end: int


def _frames(
    source: str, n: int, size: tuple[int, int], rate: Fraction, filters: str = ""
) -> np.ndarray:
    w, h = size
    spec = f"{source}{':' if '=' in source else '='}size={w}x{h}:rate={rate}"
    if source.split("=")[0] in SEEDED and "seed=" not in source:
        spec += ":seed=1"  # these sources start from random cells: the same ones each time
    spec += f",{filters}" if filters else ""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", spec,
         "-frames:v", str(n), "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"],
        capture_output=True, check=True,
    )  # fmt: skip
    frames = np.frombuffer(proc.stdout, np.uint8).reshape(-1, h, w, 3)
    if len(frames) < n:  # a source that ends early holds its last frame
        frames = np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])
    return frames.astype(np.float32)


def compose(
    shots: list[Shot], *, size: tuple[int, int], rate: Fraction
) -> tuple[list[np.ndarray], list[Truth]]:
    """The shots' frames joined by their transitions, and where each transition is."""
    out: list[np.ndarray] = []
    truth: list[Truth] = []
    for i, shot in enumerate(shots):
        frames = _frames(shot.source, shot.frames, size, rate, shot.filters)
        for k in shot.flash:
            frames[k] = 255.0
        d = shot.into_frames
        if i == 0 or shot.into == "cut" or d <= 0:
            if i:
                truth.append(Truth("cut", len(out), len(out), len(out) + 1))
            out += list(frames)
        elif shot.into == "dissolve":
            start = len(out) - d
            for k in range(d):
                a = (k + 1) / (d + 1)
                out[start + k] = (1 - a) * out[start + k] + a * frames[k]
            out += list(frames[d:])
            truth.append(Truth("dissolve", start + d // 2, start, start + d))
        elif shot.into == "fade":
            half = d // 2
            at = len(out)
            for k in range(half):
                out[at - half + k] = out[at - half + k] * (1 - (k + 1) / half)
            frames[:half] *= (np.arange(half)[:, None, None, None] / half).astype(np.float32)
            out += list(frames)
            truth.append(Truth("fade", at, at - half, at + half))
        else:
            raise ValueError(f"unknown transition {shot.into!r}")
    return out, truth


def generate_cut_video(
    path: str | Path,
    shots: list[Shot],
    *,
    rate: Fraction = Fraction(25),
    size: tuple[int, int] = (256, 144),
    drop_frame: bool = False,
    crf: int = 20,
) -> list[Truth]:
    """Write the composed shots to `path` (h264, with AAC audio where a shot has sound)
    and return the transitions' truth."""
    frames, truth = compose(shots, size=size, rate=rate)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_suffix(".picture.mp4")
    w, h = size
    enc = subprocess.Popen(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(rate), "-i", "pipe:0",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
         *(["-timecode", "00:00:00;00"] if drop_frame else []), str(raw)],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert enc.stdin is not None
    for frame in frames:
        enc.stdin.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())
    enc.stdin.close()
    if enc.wait() != 0:
        raise RuntimeError("ffmpeg could not encode the composed video")
    if not any(s.sound for s in shots):
        raw.replace(path)
        return truth
    _add_sound(raw, path, shots, truth, rate=rate, frames=len(frames))
    raw.unlink()
    return truth


def _add_sound(
    video: Path, path: Path, shots: list[Shot], truth: list[Truth], *, rate: Fraction, frames: int
) -> None:
    """Each shot's sound from its first frame to the next shot's, joined, muxed in."""
    starts = [0, *(t.frame for t in truth), frames]
    args = ["-y", "-i", str(video)]
    labels = []
    for i, shot in enumerate(shots):
        seconds = float(Fraction(starts[i + 1] - starts[i]) / rate)
        source = shot.sound or "anullsrc=r=48000:cl=mono"
        if shot.sound == "voice":
            source = f"aevalsrc=exprs='{VOICE}':sample_rate=48000"
        args += ["-f", "lavfi", "-t", f"{seconds:.6f}", "-i", source]
        labels.append(f"[{i + 1}:a]aresample=48000,aformat=channel_layouts=mono[a{i}]")
    graph = ";".join(labels) + ";" + "".join(f"[a{i}]" for i in range(len(shots)))
    graph += f"concat=n={len(shots)}:v=0:a=1[a]"
    args += ["-filter_complex", graph, "-map", "0:v", "-map", "[a]", "-c:v", "copy",
             "-c:a", "aac", "-b:a", "96k", str(path)]  # fmt: skip
    run_ffmpeg(args)
