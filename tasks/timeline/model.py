"""The domain model: scenes, briefs, cues, media facts.

Time is exact: frames at a `Fraction` rate, half-open ranges ``[start_frame, end_frame)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from scoreflow.tasks.seeds import derive_seed
from scoreflow.tasks.timeline.timecode import format_timecode, frame_to_sample, frame_to_seconds


@dataclass(frozen=True)
class Scene:
    """One scene of the cut: a half-open frame range and what the music should be.

    Explicit fields (genre ... intensity) override what the description says.
    """

    id: str
    start_frame: int
    end_frame: int
    rate: Fraction
    description: str = ""
    genre: str | None = None
    mood: str | None = None
    tempo_bpm: float | None = None
    key: str | None = None
    instruments: tuple[str, ...] = ()
    intensity: float | None = None
    curve: str | None = None  # energy over the scene: steady, rises, falls, swells
    music: bool = True
    seed: int | None = None
    hits: tuple[int, ...] = ()
    drop_frame: bool = False
    origin: str = ""  # "file:line", or "file (what)" where a format has no lines
    tc_start: int = 0  # timecode of the programme's first frame, in frames (01:00:00:00 ...)
    transition: str | None = None  # into this scene: cut | crossfade | fade (None: default)
    transition_s: float | None = None  # its length
    usage: str = "BI"  # cue-sheet usage: BI, BV, VI, VV, MT, ET ...
    dialogue: bool | None = None  # None: detect in the original audio; else forced on/off
    theme: str | None = None  # a recurring theme of its own (leitmotif); None: the programme's

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def duration_s(self) -> float:
        return frame_to_seconds(self.frames, self.rate)

    def sample_span(self, sample_rate: int) -> tuple[int, int]:
        """``[start, end)`` in samples; adjacent scenes share their boundary sample."""
        return (
            frame_to_sample(self.start_frame, self.rate, sample_rate),
            frame_to_sample(self.end_frame, self.rate, sample_rate),
        )

    @property
    def tc_in(self) -> str:
        """Programme timecode of the first frame."""
        return self.timecode(self.start_frame)

    @property
    def tc_out(self) -> str:
        """Programme timecode of the out point (exclusive)."""
        return self.timecode(self.end_frame)

    def timecode(self, frame: int) -> str:
        """Programme timecode of a frame counted from the video's first frame."""
        return format_timecode(frame + self.tc_start, self.rate, drop_frame=self.drop_frame)

    def where(self) -> tuple[str | None, int | None]:
        """``(source, line)`` of the scene's origin, for error messages."""
        source, _, line = self.origin.rpartition(":")
        if source and line.isdigit():
            return source, int(line)
        return self.origin or None, None


def scene_seed(base_seed: int, scene: Scene) -> int:
    """A scene's own seed: explicit, else derived from the base seed and the scene id."""
    return scene.seed if scene.seed is not None else derive_seed(base_seed, scene.id)


@dataclass(frozen=True)
class Brief:
    """The musical plan for one cue, read from a scene (explicit fields win over text)."""

    scene_id: str
    prompt: str
    genre: str
    mood: str
    valence: float  # -1 sad/dark .. +1 happy/bright
    arousal: float  # 0 calm .. 1 excited
    tempo_bpm: float
    tempo_range: tuple[float, float]
    key: str  # tonic name, e.g. "D"
    mode: str  # "major" | "minor" | "dorian" ...
    instruments: tuple[str, ...]
    intensity: float  # 0..1, overall energy
    drums: bool = True
    hits_s: tuple[float, ...] = ()  # seconds from the scene start; 0.0 = a hit on the cut
    curve: str = "steady"  # energy over the scene: steady, rises, falls, swells
    brightness: float = 0.0  # -1 dark/low .. +1 bright/high
    entry: str = "soft"  # "matched": it follows another cue on a cut, so it opens at full
    # strength (no quiet intro, no hole at the cut); "soft": it may ease in
    reading: tuple[tuple[str, str], ...] = ()  # (words, what they set), for `explain`
    theme: str = ""  # the recurring motif it states ("": its own, from its seed) ...
    theme_seed: int = 0  # ... drawn from this seed (the programme's), so cues share it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cue:
    """Music for one scene.

    Attributes
    ----------
    audio : np.ndarray, shape (channels, samples), float32
        The cue body, at `sample_rate`.
    tail : np.ndarray, shape (channels, samples), float32
        What rings on after the body (release), used only for crossfades into a touching scene.
    midi : bytes or None
        Standard MIDI file of the cue, when the backend is symbolic.
    """

    scene_id: str
    audio: np.ndarray
    sample_rate: int
    backend: str
    model: str
    prompt: str
    seed: int
    licence: str
    bpm: float | None = None
    key: str | None = None
    beats_per_bar: int = 4
    midi: bytes | None = None
    tail: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), np.float32))
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return int(self.audio.shape[-1])

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def tail_samples(self) -> int:
        return int(self.tail.shape[-1])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of the body followed by the tail (a view where it can
        be), shape (channels, stop - start)."""
        n = self.samples
        if stop <= n:
            return self.audio[:, start:stop]
        if start >= n:
            return self.tail[:, start - n : stop - n]
        return np.concatenate([self.audio[:, start:], self.tail[:, : stop - n]], axis=-1)

    def metadata(self) -> dict[str, Any]:
        """Everything but the audio, for manifests and cue sheets."""
        return {
            "scene_id": self.scene_id,
            "backend": self.backend,
            "model": self.model,
            "prompt": self.prompt,
            "seed": self.seed,
            "licence": self.licence,
            "bpm": self.bpm,
            "key": self.key,
            "samples": self.samples,
            "sample_rate": self.sample_rate,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class MediaInfo:
    """What a probe of the video found."""

    path: str
    duration_s: float
    rate: Fraction
    frames: int
    width: int
    height: int
    video_codec: str
    container: str
    audio_streams: int
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    start_tc: str | None = None  # the video's own start timecode (tmcd), when it has one
