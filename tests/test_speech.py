import numpy as np
import pytest
from conftest import noise

from tasks.media import generate_video, read_audio
from tasks.speech import override_regions, speech_regions

SR = 48000


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """21 s of the generated dialogue: talking over [2.5, 7), [9.5, 14), [16.5, 21)."""
    video = generate_video(
        tmp_path_factory.mktemp("speech") / "talk.mp4", seconds=21, rate="25", size="64x36"
    )
    return read_audio(video, sample_rate=SR)


TRUTH = [(2.5, 7.0), (9.5, 14.0), (16.5, 21.0)]


def chord(seconds, level):
    t = np.arange(round(seconds * SR)) / SR
    return level * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))


def overlap(found, truth):
    """Intersection over union of two sets of (start, end) second ranges."""
    grid = np.arange(0, 21, 0.01)
    a = np.zeros(grid.size, bool)
    b = np.zeros(grid.size, bool)
    for lo, hi in found:
        a |= (grid >= lo) & (grid < hi)
    for lo, hi in truth:
        b |= (grid >= lo) & (grid < hi)
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize(
    ("bed", "min_iou"),
    [
        ("none", 0.97),
        ("room noise at -50 dBFS", 0.95),
        ("quiet music bed", 0.93),
    ],
)
def test_finds_the_talking(talk, bed, min_iou):
    audio = talk.copy()
    if bed.startswith("room"):
        audio += noise(21.0, db=-50, seed=3)
    elif bed.startswith("quiet"):
        audio += chord(21.0, 0.005).astype(np.float32)  # about 10 dB under the voice
    found = [(a / SR, b / SR) for a, b in speech_regions(audio, SR)]
    assert len(found) == 3, found
    assert overlap(found, TRUTH) >= min_iou, found


@pytest.mark.parametrize(
    "signal",
    [
        "silence",
        "white noise",
        "steady chord",
        "chord swelling at 0.5 Hz",
    ],
)
def test_no_talking_found_in_other_sounds(signal):
    n = 10 * SR
    x = {
        "silence": np.zeros(n),
        "white noise": noise(10.0, db=-20)[0],
        "steady chord": chord(10.0, 0.1),
        "chord swelling at 0.5 Hz": chord(10.0, 0.1) * (1.1 + np.sin(np.pi * np.arange(n) / SR)),
    }[signal]
    assert speech_regions(x, SR) == []


def test_scene_overrides():
    found = [(100, 200), (400, 500)]
    assert override_regions(found, total_samples=1000) == found
    # a scene marked "dialogue: no" over 350..600 drops what was found there; "yes" over
    # 700..800 adds its whole span; overlaps merge
    got = override_regions(
        found, total_samples=1000, forced=[(150, 300), (700, 800)], excluded=[(350, 600)]
    )
    assert got == [(100, 300), (700, 800)]
