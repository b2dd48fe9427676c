import io
from fractions import Fraction

import librosa
import numpy as np
import pretty_midi
import pytest

from tasks.backends import get_backend
from tasks.backends.composer import Composer, choose_tempo, chord
from tasks.brief import make_brief
from tasks.errors import InputError
from tasks.model import Scene

SR = 48000


def brief(text, **kw):
    return make_brief(Scene("c", 0, 250, Fraction(25), text, origin="t.csv:2", **kw))


@pytest.fixture(scope="module")
def composer():
    return Composer()


def test_chords():
    assert chord("I", 0) == (0, (0, 4, 7))
    assert chord("vi", 0) == (9, (0, 3, 7))
    assert chord("bVII", 2) == (0, (0, 4, 7))
    assert chord("V7", 0) == (7, (0, 4, 7, 10))
    assert chord("iio", 0) == (2, (0, 3, 6))
    with pytest.raises(InputError, match="Roman-numeral"):
        chord("X", 0)


@pytest.mark.parametrize("seconds", [0.7, 3.0, 9.37, 31.0, 95.5])
def test_tempo_fills_whole_bars(seconds):
    bpm, bars, error = choose_tempo(seconds, target_bpm=100, tempo_range=(80, 120), beats_per_bar=4)
    assert bars * 4 * 60 / bpm == pytest.approx(seconds)
    if seconds > 3:
        assert error == 0 and 80 <= bpm <= 120
    assert choose_tempo(seconds, target_bpm=128, tempo_range=(128, 128), beats_per_bar=4)[0] == 128


def test_exact_length_and_midi(composer):
    cue = composer.generate([brief("rock anthem")], seconds=[7.3], seed=3)[0]
    assert cue.audio.shape == (2, round(7.3 * SR)) and cue.audio.dtype == np.float32
    assert cue.tail.shape[0] == 2 and cue.tail.shape[1] > 0
    pm = pretty_midi.PrettyMIDI(io.BytesIO(cue.midi))
    names = {i.name for i in pm.instruments}
    assert {"drums", "electric bass"} <= names
    # harmony: several pitch classes sound together; melody: a lead line exists
    assert max(len(i.notes) for i in pm.instruments if not i.is_drum) > 10
    assert float(np.abs(cue.audio).max()) <= 0.9


def test_deterministic_per_seed(composer):
    b = brief("warm acoustic morning")
    a1 = composer.generate([b], seconds=[6.0], seed=11)[0].audio
    a2 = composer.generate([b], seconds=[6.0], seed=11)[0].audio
    a3 = composer.generate([b], seconds=[6.0], seed=12)[0].audio
    assert np.array_equal(a1, a2)
    assert not np.allclose(a1, a3)


def test_real_music_not_a_tone(composer):
    cue = composer.generate([brief("energetic rock chase")], seconds=[10.0], seed=1)[0]
    mono = librosa.to_mono(cue.audio)
    onsets = librosa.onset.onset_detect(y=mono, sr=SR, units="time")
    assert len(onsets) > 15  # rhythm
    chroma = librosa.feature.chroma_cqt(y=mono[: SR * 8], sr=SR).mean(axis=1)
    assert (chroma > 0.3 * chroma.max()).sum() >= 3  # harmony: several pitch classes
    # no silence inside the cue: every half second carries sound
    frames = mono[: len(mono) // (SR // 2) * (SR // 2)].reshape(-1, SR // 2)
    assert (np.sqrt((frames**2).mean(axis=1)) > 1e-3).all()


def test_tempo_words_move_the_beat(composer):
    slow = composer.generate([brief("calm ambient", tempo_bpm=70)], seconds=[12.0], seed=1)[0]
    fast = composer.generate([brief("electronic club", tempo_bpm=128)], seconds=[12.0], seed=1)[0]
    assert (slow.bpm, fast.bpm) == (70, 128)
    t_fast, _ = librosa.beat.beat_track(y=librosa.to_mono(fast.audio), sr=SR)
    assert (
        abs(float(np.atleast_1d(t_fast)[0]) - fast.bpm) < 0.1 * fast.bpm
        or abs(float(np.atleast_1d(t_fast)[0]) * 2 - fast.bpm) < 0.1 * fast.bpm
    )


def test_registry_and_errors():
    cfg = {
        "pipeline": {"backend": "composer", "model": "", "sample_rate": SR},
        "composer": {"soundfont": "", "gain_db": -6.0},
    }
    assert get_backend(cfg).name == "composer"
    with pytest.raises(InputError, match="planned but not built"):
        get_backend({**cfg, "pipeline": {**cfg["pipeline"], "backend": "musicgen"}})
    with pytest.raises(InputError, match="SoundFont not found"):
        Composer(soundfont="/nonexistent.sf2")
