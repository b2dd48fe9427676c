import numpy as np
import pytest
import soundfile
from conftest import noise

from tasks.media import measure_loudness
from tasks.mix import Placement, normalize, peak_envelope, place, true_peak_dbtp
from tasks.model import Cue

SR = 48000


def cue(body, tail=None):
    tail = np.zeros((2, 0), np.float32) if tail is None else tail
    return Cue(
        "x", body.astype(np.float32), SR, "t", "m", "p", 0, "l", tail=tail.astype(np.float32)
    )


def test_equal_power_crossfade_centred_on_the_cut():
    n, h = SR * 2, SR // 4  # crossfade_s = 0.5 -> h = 0.25 s either side
    ones = np.ones((2, n), np.float32)
    zeros = np.zeros((2, n), np.float32)
    out_a = place(
        [Placement(cue(ones, ones), 0, n), Placement(cue(zeros), n, 2 * n)],
        total_samples=2 * n,
        sample_rate=SR,
        crossfade_s=0.5,
    )
    out_b = place(
        [Placement(cue(zeros, zeros), 0, n), Placement(cue(ones), n, 2 * n)],
        total_samples=2 * n,
        sample_rate=SR,
        crossfade_s=0.5,
    )
    g_out, g_in = out_a[0], out_b[0]
    click = SR // 200  # the programme's first sample gets the 5 ms declick
    assert np.allclose(g_out[click : n - h], 1) and np.allclose(g_out[n + h :], 0)
    assert g_out[0] < 0.01
    region = slice(n, n + h)  # where both cues have material
    assert np.allclose(g_out[region] ** 2 + g_in[region] ** 2, 1, atol=1e-4)
    assert np.all(np.diff(g_out[n - h : n + h]) <= 1e-7)  # monotonic fade-out


def test_gaps_and_music_off_stay_silent():
    a = noise(1.0)
    out = place(
        [
            Placement(cue(a, noise(1.0, seed=2)), 0, SR),
            Placement(cue(noise(1.0, seed=3)), 2 * SR, 3 * SR),
        ],
        total_samples=4 * SR,
        sample_rate=SR,
        crossfade_s=0.5,
    )
    assert out.shape == (2, 4 * SR)
    assert not out[:, SR : 2 * SR].any()  # the tail does not spill into a gap
    assert not out[:, 3 * SR :].any()
    assert abs(out[:, SR - 1]).max() < 0.01  # declicked edge


@pytest.mark.parametrize(
    ("target", "ceiling", "level_db"), [(-23, -1, -30), (-14, -1, -30), (-24, -2, -8)]
)
def test_normalize_measured_by_ffmpeg(tmp_path, target, ceiling, level_db):
    rng = np.random.default_rng(0)
    x = noise(6.0, db=level_db)
    x[:, ::4800] *= 8  # sparse hot transients make the limiter work
    x *= (1 + 0.5 * np.sin(2 * np.pi * 0.5 * np.arange(x.shape[1]) / SR)).astype(np.float32)
    x += rng.standard_normal(x.shape).astype(np.float32) * 1e-4
    out, report = normalize(x, SR, target_lufs=target, true_peak_dbtp_max=ceiling)
    assert report["after_true_peak_dbtp"] <= ceiling
    path = tmp_path / "n.wav"
    soundfile.write(path, out.T, SR, subtype="FLOAT")
    measured = measure_loudness(path)
    assert abs(measured["integrated_lufs"] - target) <= 0.5, measured
    assert measured["true_peak_dbtp"] <= ceiling + 0.1, measured
    assert true_peak_dbtp(out) <= ceiling


def test_gated_true_peak_matches_full_oversampling_near_the_ceiling():
    x = noise(3.0, db=-12)
    x[:, SR : SR + 4800] *= 6  # one hot passage
    full = peak_envelope(x)
    gated = peak_envelope(x, floor_dbtp=-1.0)
    near = full > 10 ** (-7 / 20)
    assert near.any() and np.array_equal(gated[near], full[near])
    assert np.all(gated <= full + 1e-7)
    assert true_peak_dbtp(x) == pytest.approx(20 * np.log10(full.max()), abs=1e-4)
