"""Reading the picture: a video decoded once, small, as a stream of frame features.

ffmpeg decodes the video and scales every frame to 48x27 RGB (what TransNetV2 takes) on its
way out of a pipe; the frames are read in chunks and reduced to per-frame figures at once
(`Features`), so memory stays flat whatever the video's length. The original audio is
read the same way, at 16 kHz mono in chunks, into 0.1 s figures and dialogue regions
(`Sound`). A variable-frame-rate video is reported and conformed to its nominal rate.

`tasks.picture.shots` finds the shot boundaries, `tasks.picture.spotting` groups the
shots into musical scenes and reads their energy and hit points; `read_picture` runs it
all and returns a `Reading`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from scoreflow.tasks.audio.media import ffmpeg_exe, stream_facts, video_stream
from scoreflow.tasks.cloud.storage import regular_file
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import MediaInfo
from scoreflow.tasks.timeline.timecode import RATES, snap_rate

WIDTH, HEIGHT = 48, 27  # TransNetV2's input size
CHUNK_FRAMES = 512
HIST_LEVELS = 4  # per channel: a 64-bin colour histogram per frame
SOUND_HOP_S = 0.1
SOUND_RATE = 16000
SOUND_CHUNK_S = 30.0


@dataclass(frozen=True)
class Source:
    """The video as the picture reader sees it.

    Attributes
    ----------
    rate : Fraction
        The rate frames are counted at: the video's own, or for a variable-rate video its
        nominal rate, which the decoder conforms it to.
    frames : int
        How many frames at `rate`.
    vfr : bool
        Whether the video's frame rate varies (its frames were conformed).
    """

    path: str
    rate: Fraction
    frames: int
    width: int
    height: int
    vfr: bool
    average_fps: float
    has_audio: bool
    start_tc: str | None = None  # the video's own start timecode, when it has one

    def media_info(self) -> MediaInfo:
        """As `media.probe` would say it, at the conformed rate (`scoreflow cuts` reads
        variable-rate videos, which a scored run refuses)."""
        return MediaInfo(
            path=self.path, duration_s=self.duration_s, rate=self.rate, frames=self.frames,
            width=self.width, height=self.height, video_codec="",
            container=Path(self.path).suffix.lower().lstrip("."),
            audio_streams=int(self.has_audio), start_tc=self.start_tc,
        )  # fmt: skip

    @property
    def duration_s(self) -> float:
        return float(self.frames / self.rate)

    def note(self) -> str:
        if not self.vfr:
            return ""
        return (
            f"variable frame rate (average {self.average_fps:.3f} fps): conformed to "
            f"{self.rate} ({float(self.rate):.3f} fps) for the analysis"
        )


def open_source(path: str | Path) -> Source:
    """Probe `path` for the picture reader (PyAV): its rate, whether the rate varies
    (packet timestamps spaced unevenly, or an average rate that is no known rate).

    Raises
    ------
    InputError
        If the file cannot be read or has no video stream.
    """
    p = regular_file(Path(path), what="video")
    with video_stream(p) as (container, v):
        nominal = v.guessed_rate or v.base_rate or v.average_rate
        average = float(v.average_rate or nominal)
        rate = snap_rate(Fraction(nominal))
        if rate not in RATES.values() and rate.denominator not in (1, 1001):
            rate = snap_rate(round(float(rate)))
        uneven = _uneven_timestamps(container, v)
        duration, start_tc = stream_facts(container, v)
        vfr = uneven or abs(average - float(rate)) > 0.01 * float(rate)
        frames = round(duration * rate) if vfr or not v.frames else int(v.frames)
        return Source(
            start_tc=start_tc,
            path=str(p), rate=rate, frames=int(frames), width=v.codec_context.width,
            height=v.codec_context.height, vfr=vfr, average_fps=average,
            has_audio=bool(container.streams.audio),
        )  # fmt: skip


def _uneven_timestamps(container: Any, stream: Any, packets: int = 600) -> bool:
    """Whether the first `packets` frames' timestamps are spaced unevenly (a variable rate:
    what phones and screen recorders write): more than 2% of the steps off the usual one."""
    pts = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            pts.append(packet.pts)
        if len(pts) >= packets:
            break
    container.seek(0)
    if len(pts) < 8:
        return False
    steps = np.diff(np.sort(np.asarray(pts, np.float64)))
    steps = steps[steps > 0]
    if not steps.size:
        return False
    median = float(np.median(steps))
    return bool(np.mean(np.abs(steps - median) > 0.1 * median) > 0.02)  # not one odd step


def decode_frames(source: Source, *, chunk_frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
    """The video's frames at 48x27 RGB, in chunks, streamed from ffmpeg.

    Decoding skips the h264/hevc loop filter (no use at this size); a variable-rate video
    is conformed to `source.rate` (frames repeated or dropped at their timestamps).

    Yields
    ------
    np.ndarray, shape (n, 27, 48, 3), uint8
        Consecutive frames, `chunk_frames` at a time (the last chunk may be shorter).
    """
    command = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-skip_loop_filter", "all",
        "-flags2", "+fast", "-i", source.path, "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", f"scale={WIDTH}:{HEIGHT}:flags=area", "-pix_fmt", "rgb24",
    ]  # fmt: skip
    if source.vfr:
        command += ["-fps_mode", "cfr", "-r", str(source.rate)]
    command += ["-f", "rawvideo", "pipe:1"]
    frame_bytes = WIDTH * HEIGHT * 3
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None  # both were asked for
    try:
        while True:
            data = proc.stdout.read(frame_bytes * chunk_frames)
            n = len(data) // frame_bytes
            if n:
                yield np.frombuffer(data[: n * frame_bytes], np.uint8).reshape(n, HEIGHT, WIDTH, 3)
            if len(data) < frame_bytes * chunk_frames:
                break
        error = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise InputError(
                f"cannot decode the video: {' '.join(error.splitlines()[-2:])}", source=source.path
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB (0-255) to HSV on OpenCV's scale (hue 0-180, saturation and value 0-255), as
    PySceneDetect's content detector reads frames."""
    f = rgb.astype(np.float32, copy=False)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    v = f.max(axis=-1)
    c = v - f.min(axis=-1)
    s = np.where(v > 0, 255.0 * c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(
        v == r, (g - b) / safe % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)
    )
    h = np.where(c > 0, h * 30.0, 0.0)  # 60 degrees a sector, halved: 0..180
    return np.stack([h, s, v], axis=-1)


@dataclass
class Features:
    """Per-frame figures of a video, each an array of shape (frames,) unless said.

    Attributes
    ----------
    luma : mean brightness, 0-255 (BT.601 weights)
    contrast : the standard deviation of the brightness, 0-255
    saturation : mean HSV saturation, 0-1
    warmth : mean (red - blue) / 255, -1 cold .. +1 warm
    motion : mean absolute brightness change from the frame before, 0-255 (0 for frame 0)
    content : PySceneDetect's content value: the mean change of hue, saturation and value
        from the frame before, 0-255 (0 for frame 0); hue changes around the colour circle,
        weighed by saturation (the hue of a grey pixel flips at random)
    hist : shape (frames, 64), each frame's colour histogram (4 levels a channel), sum 1
    """

    luma: np.ndarray
    contrast: np.ndarray
    saturation: np.ndarray
    warmth: np.ndarray
    motion: np.ndarray
    content: np.ndarray
    hist: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.luma.size)


class FeatureReader:
    """Accumulates `Features` chunk by chunk; only the figures and the last frame are kept."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in Features.__dataclass_fields__}
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (luma, hsv) of the last frame

    def feed(self, chunk: np.ndarray) -> None:
        """Add consecutive frames, shape (n, h, w, 3) uint8."""
        rgb = chunk.astype(np.float32)
        y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        hsv = _hsv(rgb)  # the float copy made once
        prev_y = y[:1] if self._last is None else self._last[0][None]
        prev_hsv = hsv[:1] if self._last is None else self._last[1][None]
        dy = np.abs(np.diff(np.concatenate([prev_y, y]), axis=0)).mean(axis=(1, 2))
        both = np.concatenate([prev_hsv, hsv])
        delta = np.abs(np.diff(both, axis=0))
        hue = np.minimum(delta[..., 0], 180.0 - delta[..., 0])  # around the colour circle
        # a grey pixel's hue means nothing: weigh hue changes by the lower saturation
        hue *= np.minimum(both[1:, ..., 1], both[:-1, ..., 1]) / 255.0
        dhsv = (hue + delta[..., 1] + delta[..., 2]).mean(axis=(1, 2)) / 3.0
        q = (chunk // (256 // HIST_LEVELS)).astype(np.int32)
        bins = (q[..., 0] * HIST_LEVELS + q[..., 1]) * HIST_LEVELS + q[..., 2]
        flat = bins.reshape(len(chunk), -1)
        counts = np.zeros((len(chunk), HIST_LEVELS**3), np.float32)
        np.add.at(counts, (np.arange(len(chunk))[:, None], flat), 1.0)
        p = self._parts
        p["luma"].append(y.mean(axis=(1, 2)))
        p["contrast"].append(y.std(axis=(1, 2)))
        p["saturation"].append(hsv[..., 1].mean(axis=(1, 2)) / 255.0)
        p["warmth"].append((rgb[..., 0] - rgb[..., 2]).mean(axis=(1, 2)) / 255.0)
        p["motion"].append(dy)
        p["content"].append(dhsv)
        p["hist"].append(counts / flat.shape[1])
        self._last = (y[-1], hsv[-1])

    def result(self) -> Features:
        def joined(name: str) -> np.ndarray:
            parts = self._parts[name]
            if parts:
                return np.concatenate(parts).astype(np.float32)
            return np.zeros((0, HIST_LEVELS**3) if name == "hist" else 0, np.float32)

        return Features(**{k: joined(k) for k in self._parts})


def hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Half the L1 distance of colour histograms: 0 the same colours .. 1 none shared."""
    return 0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum(axis=-1)


@dataclass
class Sound:
    """The original audio at 0.1 s resolution.

    Attributes
    ----------
    level_db : shape (hops,), RMS level, dBFS
    bands_db : shape (hops, 24), mel band levels, dB (what the sound is like: its ambience)
    speech : list of ``(start_s, end_s)``, the dialogue regions (`tasks.audio.speech`)
    """

    level_db: np.ndarray
    bands_db: np.ndarray
    speech: list[tuple[float, float]] = field(default_factory=list)

    def span(self, start_s: float, end_s: float) -> slice:
        a = int(start_s / SOUND_HOP_S)
        return slice(a, max(a + 1, int(end_s / SOUND_HOP_S)))

    def level_over(self, start_s: float, end_s: float) -> float:
        """The mean power of ``[start_s, end_s)`` as a level, dBFS."""
        part = self.level_db[self.span(start_s, end_s)]
        return float(10 * np.log10(np.mean(10 ** (part / 10)) + 1e-12))

    def speech_share(self, start_s: float, end_s: float) -> float:
        """How much of ``[start_s, end_s)`` has dialogue, 0..1."""
        inside = sum(max(0.0, min(b, end_s) - max(a, start_s)) for a, b in self.speech)
        return inside / max(end_s - start_s, 1e-9)

    def speech_across(self, t_s: float, *, margin_s: float) -> bool:
        """Whether one dialogue region runs from `margin_s` before `t_s` to after it."""
        return any(a <= t_s - margin_s and t_s + margin_s < b for a, b in self.speech)

    def in_speech(self, t_s: float, *, margin_s: float = 0.0) -> bool:
        return any(a - margin_s <= t_s < b + margin_s for a, b in self.speech)


def read_sound(source: Source, *, speech_margin_db: float = 6.0) -> Sound | None:
    """The video's first audio stream as a `Sound`, decoded in 30 s chunks; None if the
    video has no audio."""
    import librosa

    from scoreflow.tasks.audio import speech

    if not source.has_audio:
        return None
    command = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", source.path,
        "-map", "0:a:0", "-ac", "1", "-ar", str(SOUND_RATE), "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    hop = round(SOUND_HOP_S * SOUND_RATE)
    chunk_bytes = round(SOUND_CHUNK_S * SOUND_RATE) * 4
    levels, bands, frames = [], [], []
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        while data := proc.stdout.read(chunk_bytes):
            x = np.frombuffer(data[: len(data) // 4 * 4], np.float32)
            n = len(x) // hop
            if n == 0:
                break
            x = x[: n * hop]
            rms = np.sqrt((x.reshape(n, hop).astype(np.float64) ** 2).mean(axis=1))
            levels.append(20 * np.log10(rms + 1e-9) + 3.0)  # dB re a full-scale sine
            mel = librosa.feature.melspectrogram(  # a hop of padding: n frames of 2 hops
                y=np.pad(x, (0, hop)), sr=SOUND_RATE, n_fft=2 * hop, hop_length=hop,
                n_mels=24, center=False,
            )  # fmt: skip
            bands.append(librosa.power_to_db(mel, ref=1.0, amin=1e-10).T[:n])
            per_hop = round(SOUND_HOP_S / speech.HOP_S)
            f = np.zeros(0, bool)  # a tail under a second is too short to judge
            if len(x) >= SOUND_RATE:
                f = speech.speech_frames(x, SOUND_RATE, margin_db=speech_margin_db)[: n * per_hop]
            frames.append(np.pad(f, (0, n * per_hop - len(f))))
    finally:
        proc.kill()
        proc.wait()
    if not levels:
        return None
    regions = speech.smooth_speech(np.concatenate(frames))
    hop_s = speech.HOP_S
    return Sound(
        level_db=np.concatenate(levels).astype(np.float32),
        bands_db=np.concatenate(bands).astype(np.float32),
        speech=[(a * hop_s, b * hop_s) for a, b in regions],
    )
