import numpy as np
import pytest

from scoreflow.tasks.audio.align import bar_lines, fit_cue, ring_out
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Cue

SR = 48000


def click_track(bpm: float, seconds: float) -> np.ndarray:
    """Stereo clicks on every beat; downbeats (4/4) add a low thump, as a kick would."""
    n = round(seconds * SR)
    x = np.zeros(n, np.float32)
    beat = 60 / bpm
    t = np.arange(int(0.03 * SR)) / SR
    for k in range(int(seconds / beat) + 1):
        i = round(k * beat * SR)
        burst = np.sin(2 * np.pi * (1500 if k % 4 == 0 else 900) * t) * np.exp(-t * 150)
        burst *= 0.4
        if k % 4 == 0:
            burst += 0.8 * np.sin(2 * np.pi * 60 * t) * np.exp(-t * 60)
        x[i : i + len(t)] += burst[: max(0, min(len(t), n - i))].astype(np.float32)
    return np.stack([x, x])


def cue(audio, bpm=120.0):
    return Cue("s", audio, SR, "test", "m", "p", 0, "l", bpm=bpm)


def test_bar_lines_follow_the_beat():
    bars = bar_lines(click_track(120, 12), SR, bpm=120, beats_per_bar=4)
    assert len(bars) >= 4
    assert np.allclose(np.diff(bars), 2 * SR, atol=0.02 * SR)
    phase = (bars / SR + 0.05) % 2.0 - 0.05  # distance of each bar line from a downbeat
    assert np.abs(phase).max() < 0.03


def test_no_bar_lines_in_noise():
    noise = np.random.default_rng(1).standard_normal((2, 10 * SR)).astype(np.float32) * 0.3
    assert len(bar_lines(noise, SR, bpm=None, beats_per_bar=4)) == 0


@pytest.mark.parametrize(
    ("seconds", "target_s", "method"),
    [
        (8.0, 8.0, "exact"),
        (10.3, 9.9, "stretch"),  # bar line at 10.0 s is 1 % away
        (9.7, 10.1, "stretch"),  # the cue end itself is within 5 %
        (20.0, 11.0, "trim"),  # bar lines at 10 and 12 s are 9 % away
        (3.0, 5.0, "pad"),
    ],
)
def test_fit_is_sample_exact(seconds, target_s, method):
    target = round(target_s * SR)
    out = fit_cue(cue(click_track(120, seconds)), target, max_stretch=0.05)
    assert out.audio.shape == (2, target)
    assert out.metrics["align"] == method
    assert abs(float(out.audio[0, 0])) < 1e-3  # declicked start


def test_stretch_lands_the_bar_line_on_the_cut():
    target = round(9.9 * SR)
    out = fit_cue(cue(click_track(120, 10.3)), target)
    assert out.metrics["align"] == "stretch"
    assert abs(out.metrics["bar_line_sample"] - 10 * SR) < 0.03 * SR
    # the downbeat after the cut now starts the tail, right at the boundary
    head = np.abs(out.tail[0, : int(0.03 * SR)]).max()
    assert head > 0.3


def test_trim_fades_out_without_click():
    target = round(11.0 * SR)
    noise = np.random.default_rng(0).standard_normal((2, 20 * SR)).astype(np.float32) * 0.3
    out = fit_cue(cue(noise, bpm=None), target, fade_out_s=0.35)
    assert out.metrics["align"] == "trim"
    assert abs(out.audio[:, -1]).max() < 0.01
    assert np.sqrt((out.audio[:, -int(0.01 * SR) :] ** 2).mean()) < 0.02


def test_rejects_empty_target():
    with pytest.raises(InputError):
        fit_cue(cue(click_track(120, 2)), 0)


@pytest.mark.parametrize(
    ("tail_s", "ring_s", "length_s"), [(2.0, 1.5, 5.5), (0.3, 1.5, 4.3), (0.0, 1.5, 4.0)]
)
def test_cue_files_ring_out_to_silence(tail_s, ring_s, length_s):
    """A cue's file: the scene, then its own ring-out; never a click at the end."""
    rng = np.random.default_rng(0)
    body = (0.9 * rng.uniform(-1, 1, (2, 4 * SR))).astype(np.float32)
    tail = (0.9 * rng.uniform(-1, 1, (2, round(tail_s * SR)))).astype(np.float32)
    c = Cue("s", body, SR, "test", "m", "p", 0, "l", tail=tail)
    out = ring_out(c, ring_s=ring_s)
    assert out.shape == (2, round(length_s * SR))
    assert np.array_equal(out[:, : 3 * SR], body[:, : 3 * SR])  # the scene itself untouched
    last_5ms = np.abs(out[:, -round(0.005 * SR) :]).max()
    assert 20 * np.log10(last_5ms + 1e-12) < -60
