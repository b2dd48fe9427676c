import numpy as np
import pytest

from scoreflow.tasks.audio import analysis
from scoreflow.tasks.errors import InputError

SR = 22050


def tones(freqs, seconds):
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32) / len(freqs)


def midi_hz(note):
    return 440.0 * 2 ** ((note - 69) / 12)


def chords(progression, seconds_each=0.5):
    return np.concatenate([tones([midi_hz(n) for n in c], seconds_each) for c in progression])


def clicks(times_s, seconds):
    out = np.zeros(int(seconds * SR), np.float32)
    burst = (np.sin(2 * np.pi * 2000 * np.arange(400) / SR) * np.exp(-np.arange(400) / 80)).astype(
        np.float32
    )
    for t in times_s:
        i = round(t * SR)
        out[i : i + 400] += burst[: len(out) - i]
    return out


@pytest.mark.parametrize(
    ("progression", "key"),
    [
        ([(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)], (0, "major")),  # C F G C
        ([(57, 60, 64), (62, 65, 69), (64, 68, 71), (57, 60, 64)], (9, "minor")),  # Am Dm E Am
        ([(62, 66, 69), (67, 71, 74), (69, 73, 76), (62, 66, 69)], (2, "major")),  # D G A D
    ],
)
def test_estimate_key(progression, key):
    assert analysis.estimate_key(chords(progression * 3), SR) == key


def test_tempo_onsets_and_attacks():
    beat = 0.5  # 120 bpm
    times = np.arange(0.25, 12, beat)
    audio = clicks(times, 12.5)
    assert analysis.estimate_tempo(audio, SR) == pytest.approx(120, rel=0.03)
    assert analysis.onset_rate(audio, SR) == pytest.approx(len(times) / 12.5, rel=0.1)
    found = analysis.attacks_near(audio, SR, [0.25, 3.25, 5.4])
    (t0, s0), (t1, s1), (_, s2) = found
    assert abs(t0 - 0.25) < 0.005 and abs(t1 - 3.25) < 0.005
    assert s0 > 3 and s1 > 3 and s2 < s1 / 3  # nothing strikes at 5.4 s


def test_attack_on_the_first_sample():
    ((t, strength),) = analysis.attacks_near(clicks([0.0], 2.0), SR, [0.0])
    assert abs(t) < 0.005 and strength > 3


def test_spectral_centroid_orders_brightness():
    low, high = (analysis.spectral_centroid_hz(tones([f], 2.0), SR) for f in (300, 3000))
    assert low == pytest.approx(300, rel=0.1) and high == pytest.approx(3000, rel=0.1)


def test_loop_score_separates_loops_from_development():
    rng = np.random.default_rng(0)
    group = [tuple(int(n) for n in rng.integers(48, 72, 3)) for _ in range(8)]  # 4 s
    looped = chords(group * 8)  # 32 s: one bar group, repeated
    varied = chords([tuple(int(n) for n in rng.integers(48, 72, 3)) for _ in range(64)])
    loop, lag = analysis.loop_score(looped, SR)
    score, _ = analysis.loop_score(varied, SR)
    assert loop > 0.97 and lag == pytest.approx(4.0, abs=0.06)
    assert score < 0.8


@pytest.mark.parametrize(
    ("call", "audio"),
    [
        (lambda a: analysis.estimate_key(a, SR), np.zeros((2, 0), np.float32)),
        (lambda a: analysis.loop_score(a, SR), tones([440], 3.0)),
        (lambda a: analysis.onset_rate(a, SR), np.zeros((2, 2, 10), np.float32)),
    ],
)
def test_bad_input(call, audio):
    with pytest.raises(InputError):
        call(audio)
