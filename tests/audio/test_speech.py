from fractions import Fraction

import numpy as np
import pytest
from conftest import noise
from scipy.signal import lfilter

from scoreflow.tasks.audio.media import generate_video, read_audio
from scoreflow.tasks.audio.speech import override_regions, speech_regions
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Scene

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


VOWELS = {
    "a": (730, 1090, 2440),
    "i": (270, 2290, 3010),
    "u": (300, 870, 2240),
    "o": (570, 840, 2410),
}


def formant_speech(phrases, *, seed=0):
    """Phrases of syllables: a glottal pulse train with intonation through three vowel
    formants, some with a consonant noise burst. Returns (audio, [(start_s, end_s)])."""
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0.0
    for start, seconds in phrases:
        parts.append(np.zeros(round((start - t) * SR)))
        syllables = []
        for k in range(int(seconds / 0.2)):
            n = round(rng.uniform(0.15, 0.25) * SR)
            wobble = np.sin(
                2 * np.pi * rng.uniform(0.5, 1.5) * np.arange(n) / SR + rng.uniform(0, 6)
            )
            f0 = 120 * (1 + 0.15 * wobble) * (1 - 0.02 * k)
            pulses = np.diff(np.floor(np.cumsum(f0 / SR)), prepend=0)
            voiced = 0.0
            for f in VOWELS[rng.choice(list(VOWELS))]:
                r, theta = np.exp(-np.pi * (80 + 0.05 * f) / SR), 2 * np.pi * f / SR
                voiced = voiced + lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], pulses)
            syllable = voiced * np.sin(np.pi * np.arange(n) / n) ** 0.7
            if rng.random() < 0.4:  # a consonant
                m = round(0.05 * SR)
                syllable[:m] += (
                    rng.standard_normal(m) * np.hanning(m) * 0.3 * np.abs(syllable).max()
                )
            syllables.append(syllable)
        phrase = np.concatenate(syllables)
        parts.append(0.1 * phrase / np.abs(phrase).max())
        truth.append((start, start + phrase.size / SR))
        t = truth[-1][1]
    return np.concatenate(parts).astype(np.float32), truth


def test_finds_formant_speech():
    audio, truth = formant_speech([(1.0, 3.0), (5.5, 2.0), (9.0, 4.0)])
    found = [(a / SR, b / SR) for a, b in speech_regions(audio, SR)]
    assert len(found) == 3 and np.allclose(found, truth, atol=0.1), (found, truth)


@pytest.mark.parametrize("text", ["energetic rock anthem", "smoky jazz lounge", "lofi study beats",
                                  "acoustic folk guitar", "tense cinematic chase"])  # fmt: skip
def test_composed_music_is_mostly_not_speech(text):
    """Music in the original audio would be ducked under itself where taken for speech."""
    brief = make_brief(Scene("m", 0, 750, Fraction(25), text))
    music = Composer().generate([brief], seconds=[30.0], seed=3)[0].audio
    flagged = sum(b - a for a, b in speech_regions(music, SR)) / SR
    assert flagged < 4.5, flagged  # under 15 % of the 30 s
