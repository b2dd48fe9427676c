"""The composer's mix stage, measured: filter responses, compression, width, reverb decay,
the exciter's band, and whole mixes' stereo and spectrum."""

import numpy as np
import pytest
from scipy import signal

from scoreflow.tasks.engines.composer import production as P

SR = 48000


def tone(freq_hz, seconds=1.0, level=0.5):
    t = np.arange(round(seconds * SR)) / SR
    mono = (level * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.stack([mono, mono])


def gain_db(before, after):
    return 10 * np.log10(np.mean(after[:, SR // 4 :] ** 2) / np.mean(before[:, SR // 4 :] ** 2))


@pytest.mark.parametrize(
    ("band", "freq", "expected_db"),
    [
        (("highpass", 1000.0, 0.0), 250.0, (-25.0, -23.0)),  # 12 dB/octave, two octaves down
        (("highpass", 1000.0, 0.0), 8000.0, (-0.1, 0.05)),
        (("low_shelf", 100.0, 6.0), 30.0, (5.0, 6.1)),
        (("high_shelf", 10000.0, -4.0), 18000.0, (-4.1, -3.0)),
        (("peak", 3000.0, 3.0), 3000.0, (2.9, 3.1)),
        (("peak", 3000.0, 3.0), 300.0, (-0.1, 0.3)),
    ],
)
def test_equalizer_responses(band, freq, expected_db):
    x = tone(freq)
    lo, hi = expected_db
    assert lo <= gain_db(x, P.equalize(x, SR, [band])) <= hi


def test_unknown_filter_is_refused():
    with pytest.raises(ValueError, match="unknown filter"):
        P.biquad("notch", 100.0, SR)


def test_compressor_reduces_the_loud_part_only():
    quiet, loud = tone(440.0, 1.0, 0.05), tone(440.0, 1.0, 0.8)
    x = np.concatenate([quiet, loud, quiet], axis=1)
    y = P.compress(x, SR, threshold_db=-6.0, ratio=4.0, attack_ms=5.0, release_ms=50.0)
    span = {k: slice(k * SR + SR // 4, (k + 1) * SR - SR // 10) for k in range(3)}
    step_db = [
        20 * np.log10(np.abs(a[:, span[1]]).max() / np.abs(a[:, span[0]]).max()) for a in (x, y)
    ]
    # the loud part sits 6 dB over the threshold: 4:1 takes 4.5 dB off the 24 dB step
    assert step_db[0] - step_db[1] == pytest.approx(4.5, abs=1.0)
    # make-up is half the deepest reduction: an attack's first milliseconds overshoot by
    # at most that (the backend's headroom stage then sets the cue's peak)
    assert np.abs(y).max() <= np.abs(x).max() * 10 ** (2.5 / 20)
    assert np.array_equal(P.compress(x, SR, threshold_db=-6, ratio=1.0, attack_ms=5,
                                     release_ms=50), x)  # fmt: skip


@pytest.mark.parametrize("width", [0.3, 0.6])
def test_widen_reaches_the_asked_correlation(width):
    rng = np.random.default_rng(0)
    mono = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(SR * 2)).astype(np.float32)
    x = np.stack([mono, mono])
    y = P.widen(x, SR, width=width)
    assert P.correlation(x) == pytest.approx(1.0)
    assert P.correlation(y) == pytest.approx(1 - width, abs=0.05)
    already = np.stack([mono, -mono])  # wider than asked: left alone
    assert P.widen(already, SR, width=width) is already


@pytest.mark.parametrize("kind", sorted(P.SPACES))
def test_reverb_decays_at_the_preset_rt60(kind):
    ir = P.impulse_response(kind, SR)
    rate = SR // P.REVERB_DECIMATION
    energy = np.cumsum((ir[0].astype(np.float64) ** 2)[::-1])[::-1]  # Schroeder integral
    db = 10 * np.log10(energy / energy[0])
    t5, t25 = (np.argmax(db <= level) / rate for level in (-5, -25))
    rt60 = 3 * (t25 - t5)  # T20 extrapolated
    assert rt60 == pytest.approx(P.SPACES[kind].decay_s, rel=0.2)
    assert P.correlation(ir.T.copy().T) < 0.3  # the two sides differ


def test_reverb_wet_signal_is_stereo_and_as_long_as_the_send():
    send = np.zeros(SR, np.float32)
    send[100] = 1.0
    wet = P.reverb(send, SR, kind="hall")
    assert wet.shape == (2, SR) and P.correlation(wet) < 0.3 and np.abs(wet).max() > 0


def test_exciter_adds_only_above_7khz():
    x = tone(4000.0, 1.0, 0.5)
    y = P.excite(x, SR, amount=1.0)
    spectrum = np.abs(np.fft.rfft((y - x)[0] * np.hanning(y.shape[-1])))
    freqs = np.fft.rfftfreq(y.shape[-1], 1 / SR)
    added_low = spectrum[freqs < 5000].sum()
    assert spectrum[(freqs > 7900) & (freqs < 8100)].max() > 100 * spectrum[freqs < 5000].max()
    assert added_low < 0.01 * spectrum.sum()
    assert P.excite(x, SR, amount=0.0) is x


def test_mix_of_mono_parts_is_stereo_and_balanced():
    rng = np.random.default_rng(1)
    noise = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(SR * 3)).astype(np.float32)
    parts = [
        ("bass", np.stack([noise, noise]) * 0.5),
        ("pad", np.stack([noise, noise]) * 0.02),  # 28 dB under the bass as played
    ]
    template = {"reverb": "room", "reverb_send": 1.0, "width": 1.0, "glue_ratio": 1.5}
    out = P.mix_parts(parts, SR, template=template)
    assert out.shape == (2, SR * 3)
    assert 0.3 < P.correlation(out) < 0.95  # the pad's width and the reverb open it up
    pad_alone = P.channel_strip(parts[1][1], SR, P.STRIPS["pad"])
    bass_alone = P.channel_strip(parts[0][1], SR, P.STRIPS["bass"])
    gap = P.loud_db(bass_alone, SR) - P.loud_db(pad_alone, SR)
    assert gap == pytest.approx(P.STRIPS["bass"].level_db - P.STRIPS["pad"].level_db, abs=0.5)


@pytest.mark.parametrize(
    ("program", "drum", "role"),
    [(0, False, "keys"), (33, False, "bass"), (43, False, "bass"), (48, False, "pad"),
     (47, False, "perc"), (24, False, "guitar"), (81, False, "lead"), (0, True, "drums")],
)  # fmt: skip
def test_roles_of_general_midi_programs(program, drum, role):
    assert P.role_of(program, is_drum=drum) == role
