"""The beat tracker's port gives librosa's own beats and tempo, frame for frame, and the
measures no longer import `librosa.beat` (whose import compiles numba kernels afresh)."""

from __future__ import annotations

import functools
import subprocess
import sys
from fractions import Fraction

import librosa
import librosa.beat
import numpy as np
import pytest

from scoreflow.tasks.audio.beats import beat_track
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Scene

SR = 48000


def clicks(bpm: float, seconds: float = 12.0) -> np.ndarray:
    y = np.zeros(round(seconds * SR), np.float32)
    y[:: round(SR * 60 / bpm)] = 1.0
    return y


@functools.cache  # each is tracked eight ways
def composed(description: str, seconds: float, seed: int) -> np.ndarray:
    scene = Scene("1", 0, round(25 * seconds), Fraction(25), description=description)
    cue = Composer().generate([make_brief(scene)], seconds=[seconds], seed=seed)[0]
    return cue.audio.mean(axis=0)


SIGNALS = {
    "clicks 70": lambda: clicks(70),
    "clicks 133": lambda: clicks(133),
    "clicks 174": lambda: clicks(174),
    "noise": lambda: np.random.default_rng(0).standard_normal(10 * SR).astype(np.float32),
    "silence": lambda: np.zeros(3 * SR, np.float32),
    "chase 15 s": lambda: composed("tense night chase through wet streets", 15, 1),
    "lofi 21 s": lambda: composed("lofi study beats, rainy window", 21, 2),
    "piano 6 s": lambda: composed("sad piano goodbye, slow", 6, 3),
}


@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize(("sr", "hop"), [(11025, 512), (22050, 128)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_port_gives_librosas_beats(name, sr, hop, dtype):
    y = librosa.resample(SIGNALS[name](), orig_sr=SR, target_sr=sr).astype(dtype)
    for units in ("frames", "time"):
        theirs = librosa.beat.beat_track(y=y, sr=sr, hop_length=hop, start_bpm=100.0, units=units)
        ours = beat_track(y=y, sr=sr, hop_length=hop, start_bpm=100.0, units=units)
        assert np.array_equal(np.atleast_1d(ours[0]), np.atleast_1d(theirs[0]))
        assert np.array_equal(ours[1], theirs[1]) and ours[1].dtype == theirs[1].dtype


def test_the_port_takes_an_onset_envelope():
    y = clicks(97)
    env = librosa.onset.onset_strength(y=y, sr=SR, hop_length=256)
    theirs = librosa.beat.beat_track(onset_envelope=env, sr=SR, hop_length=256, start_bpm=90.0)
    ours = beat_track(onset_envelope=env, sr=SR, hop_length=256, start_bpm=90.0)
    assert np.array_equal(ours[1], theirs[1]) and len(ours[1]) > 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": clicks(100), "units": "samples"}, "units must be"),
        ({}, "y or onset_envelope"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        beat_track(sr=SR, **kwargs)


def test_measuring_a_cue_leaves_librosa_beat_unimported():
    code = (
        "import sys, numpy as np\n"
        "from scoreflow.tasks.audio import align, analysis\n"
        "from scoreflow.tasks.quality import originality\n"
        "y = (np.random.default_rng(0).standard_normal((2, 48000 * 5)) * 0.1).astype('f4')\n"
        "originality.audio_features(y, 48000); analysis.estimate_tempo(y, 48000)\n"
        "analysis.beat_tempo(y.mean(axis=0), 48000, start_bpm=120.0)\n"
        "print('librosa.beat' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
