import functools
from fractions import Fraction

import numpy as np
import pytest
import soundfile
from conftest import noise

from scoreflow import config
from scoreflow.tasks.audio.media import generate_video, measure_loudness
from scoreflow.tasks.audio.mix import (
    LoudnessMeter,
    Mixing,
    Placement,
    integrated_lufs,
    intensity_level_db,
    mix_programme,
    music_bus,
    normalize,
    peak_envelope,
    place,
    true_peak_dbtp,
)
from scoreflow.tasks.audio.speech import dialogue_track
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Cue, Scene

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


# --- delivery presets, ducking, transitions -------------------------------------------------


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """12 s of the generated dialogue (talking over [2.5, 7) and [9.5, 12)) and its regions."""
    video = generate_video(
        tmp_path_factory.mktemp("mix") / "talk.mp4", seconds=12, rate="25", size="64x36"
    )
    audio, regions = dialogue_track(video, sample_rate=SR, samples=12 * SR)
    return audio, regions


def composed(text, seconds=12.0):
    brief = make_brief(Scene("m", 0, round(seconds * 25), Fraction(25), text))
    return Composer().generate([brief], seconds=[seconds], seed=1)[0].audio


@functools.cache
def material(kind):
    if kind == "hot transients":
        x = noise(12.0, db=-26)
        x[:, ::4800] *= 12
        return x
    return composed({"rock cue": "energetic rock anthem", "ambient cue": "calm ambient pad"}[kind])


@pytest.mark.parametrize("preset", ["ebu-r128", "atsc-a85", "streaming", "netflix", "custom"])
@pytest.mark.parametrize(
    ("music", "with_dialogue"),
    [
        ("rock cue", True),
        ("ambient cue", False),
        ("hot transients", False),
        ("hot transients", True),
    ],
)
def test_presets_measured_by_ffmpeg(tmp_path, talk, preset, music, with_dialogue):
    chosen = config.preset(config.load_settings(None, {"pipeline": {"preset": preset}}))
    dialogue, regions = talk if with_dialogue else (None, [])
    mixing = Mixing(
        sample_rate=SR,
        regions=regions,
        target_lufs=chosen["target_lufs"],
        true_peak_dbtp=chosen["true_peak_dbtp"],
        dialogue_gated=chosen["gate"] == "dialogue",
    )
    prog = mix_programme(material(music).copy(), dialogue, mixing=mixing)
    path = tmp_path / "mix.wav"
    soundfile.write(path, prog.mix.T, SR, subtype="PCM_24")
    gated = chosen["gate"] == "dialogue" and with_dialogue
    measured = measure_loudness(
        path, regions_s=[(a / SR, b / SR) for a, b in regions] if gated else None
    )
    assert abs(measured["integrated_lufs"] - chosen["target_lufs"]) <= 0.5, measured
    assert measure_loudness(path)["true_peak_dbtp"] <= chosen["true_peak_dbtp"], measured
    assert prog.report["gate"] == ("dialogue" if gated else "programme")
    if with_dialogue:  # the buses are what the mix is made of
        assert np.abs(prog.music + prog.dialogue - prog.mix).max() < 1e-6


def level_db(x, a, b):
    return 10 * np.log10(np.mean(x[:, a:b].astype(np.float64) ** 2))


def over_a_bed(talk, *, seed, **options):
    """A steady noise bed (its level differences are the ducking) mixed under the talk."""
    dialogue, regions = talk
    mixing = Mixing(
        sample_rate=SR, regions=regions, target_lufs=-23.0, true_peak_dbtp=-1.0, **options
    )
    return mix_programme(noise(12.0, db=-30, seed=seed), dialogue, mixing=mixing)


@pytest.mark.parametrize("depth_db", [6.0, 10.0, 15.0])
def test_ducking_depth_measured(tmp_path, talk, depth_db):
    regions = talk[1]
    prog = over_a_bed(talk, seed=5, duck_db=depth_db, attack_s=0.15, release_s=0.6)
    path = tmp_path / "music.wav"
    soundfile.write(path, prog.music.T, SR, subtype="PCM_24")
    music, _ = soundfile.read(path, always_2d=True)
    music = music.T
    inside = [level_db(music, a + SR // 10, b - SR // 10) for a, b in regions]
    edges = [0, *[x for a, b in regions for x in (a - SR // 4, b + SR * 7 // 10)], 12 * SR]
    outside = [
        level_db(music, lo, hi)
        for lo, hi in zip(edges[::2], edges[1::2], strict=True)
        if hi - lo > SR // 2
    ]
    assert len(inside) == 2 and outside
    for i in inside:
        for o in outside:
            assert abs((o - i) - depth_db) <= 1.0, (inside, outside)


def two_cues(transition, seconds=None):
    n = 2 * SR
    ones = np.ones((2, n), np.float32)
    return place(
        [
            Placement(cue(ones, ones), 0, n),
            Placement(cue(ones), n, 2 * n, transition=transition, transition_s=seconds),
        ],
        total_samples=2 * n,
        sample_rate=SR,
        crossfade_s=0.5,
    ), n


def test_transition_shapes():
    out, n = two_cues("cut")
    click = SR // 200
    # a hard cut: no tail past the cut, both sides at full level but the 5 ms declicks
    assert np.allclose(out[0, click : n - click], 1)
    assert np.allclose(out[0, n + click : 2 * n - click], 1)
    assert out[0, n - 1] < 0.01 and out[0, n] < 0.01
    out, n = two_cues("fade", 1.0)
    # fade to silence over the last second before the cut, the next cue starts on the cut
    assert np.allclose(out[0, click : n - SR], 1) and out[0, n - 1] < 0.01
    assert np.all(np.diff(out[0, n - SR : n]) <= 1e-7)
    assert np.allclose(out[0, n + click : 2 * n - click], 1)
    out, n = two_cues("crossfade", 1.0)
    # 1 s crossfade centred on the cut: equal power, both curves cover [cut - 0.5, cut + 0.5]
    gained = out[0, n : n + SR // 2]
    assert np.all(gained >= 1.0 - 1e-6) and gained.max() == pytest.approx(np.sqrt(2), abs=0.01)
    assert np.allclose(out[0, n - SR // 2 - 10 : n - SR // 2], 1, atol=1e-3)


def test_programme_fades():
    n = 4 * SR
    out = place(
        [Placement(cue(np.ones((2, n), np.float32)), 0, n)],
        total_samples=n,
        sample_rate=SR,
        crossfade_s=0.5,
        fade_in_s=1.0,
        fade_out_s=2.0,
    )
    assert out[0, 0] < 0.01 and out[0, SR - 1] == pytest.approx(1, abs=1e-3)
    assert np.allclose(out[0, SR : 2 * SR], 1)
    assert out[0, 3 * SR] == pytest.approx(np.cos(np.pi / 4), abs=0.01)  # half-way, -3 dB
    assert out[0, -1] < 0.01


def test_music_and_original_apart(talk):
    regions = talk[1]
    prog = over_a_bed(talk, seed=6, with_dialogue=False)
    # the delivered track is the music alone, still ducked under the dialogue it lost
    assert prog.dialogue is None and prog.mix is prog.soundtrack
    a, b = regions[0]
    assert level_db(prog.mix, 0, a - SR // 2) - level_db(prog.mix, a + SR // 10, b - SR // 10) > 9


def test_cue_loudness_follows_intensity_in_the_programme():
    """Two cues as loud as each other on their own: in the soundtrack the intense one
    plays `range_lu * 0.8` LU over the quiet one, and the programme still meets its target."""
    x = noise(6.0, seed=3)
    quiet, loud = (intensity_level_db(i, range_lu=8.0) for i in (0.15, 0.95))
    assert (quiet, loud) == pytest.approx((-2.8, 3.6))
    assert intensity_level_db(0.7, range_lu=0.0) == 0.0
    placements = [
        Placement(cue(x), 0, 6 * SR, level_db=quiet),
        Placement(cue(x), 8 * SR, 14 * SR, level_db=loud),
    ]
    bus = music_bus(placements, target_lufs=-23.0, total_samples=14 * SR, sample_rate=SR,
                    crossfade_s=0.5)  # fmt: skip
    mixing = Mixing(sample_rate=SR, regions=[], target_lufs=-23.0, true_peak_dbtp=-1.0)
    programme = mix_programme(bus, None, mixing=mixing)
    track = programme.music

    def rms_db(a, b):
        return 10 * np.log10(np.mean(track[:, a * SR : b * SR].astype(np.float64) ** 2))

    assert rms_db(9, 13) - rms_db(1, 5) == pytest.approx(6.4, abs=0.3)
    assert programme.report["after_lufs"] == pytest.approx(-23.0, abs=0.1)


def test_loudness_meter_keeps_off_subnormals_through_silence(tmp_path):
    """A tail into digital silence leaves the K-weighting filters' state subnormal without
    the guard (scipy's sosfilt then runs 40 times slower); the guard keeps it normal and
    moves no loudness (ffmpeg's meter agrees), fed whole or in odd-sized blocks."""
    rng = np.random.default_rng(3)
    tone = (0.1 * rng.standard_normal((2, 5 * SR))).astype(np.float32)
    then_silence = np.concatenate([tone, np.zeros((2, 30 * SR), np.float32)], axis=1)
    meter = LoudnessMeter(SR)
    for lo in range(0, then_silence.shape[1], 77_777):
        meter.feed(then_silence[:, lo : lo + 77_777])
    tiny = np.finfo(np.float32).tiny
    state = np.abs(meter._zi)
    assert not np.any((state > 0) & (state < tiny))
    assert integrated_lufs(then_silence, SR) == pytest.approx(meter.lufs(), abs=1e-9)
    wav = tmp_path / "tail.wav"
    soundfile.write(wav, then_silence.T, SR, subtype="FLOAT")
    assert meter.lufs() == pytest.approx(measure_loudness(wav)["integrated_lufs"], abs=0.1)
    assert integrated_lufs(np.zeros((2, SR), np.float32), SR) == float("-inf")
