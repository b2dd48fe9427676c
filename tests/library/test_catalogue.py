"""`tasks.library.catalogue`: levelling, tags, measured tempo and key, the energy curve,
and a whole track from an audio-only backend (a generated tone), its files read back by
other code (soundfile, wavinfo, mutagen, hashlib, ffmpeg's meter)."""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import soundfile
from mutagen.id3 import ID3
from wavinfo import WavInfoReader

from scoreflow.tasks.audio.media import measure_loudness
from scoreflow.tasks.library import catalogue
from scoreflow.tasks.library.plan import Delivery, TrackSpec
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Cue, Scene

SR = 48000


def delivery(**changes) -> Delivery:
    d = {
        "name": "Test Library",
        "artist": "Test Composer",
        "main_s": (20.0, 20.0),
        "cutdowns_s": (),
        "sting_s": 0.0,
        "loops_bars": (),
        "alternates": (),
        "stems": False,
        "formats": ("wav", "mp3"),
        "target_lufs": -16.0,
        "true_peak_dbtp": -1.0,
        "mp3_kbps": 192,
        "similarity_max": 0.85,
        "max_tries": 2,
    }
    return Delivery(**{**d, **changes})


def spec(*, main_s: float = 3.0, **scene) -> TrackSpec:
    fields = {"description": "calm ambient pad", "genre": "ambient", "mood": "calm"}
    fields |= {"tempo_bpm": 90.0, "key": "A minor", **scene}
    s = Scene("t001", 0, round(main_s * 1000), Fraction(1000), **fields)
    brief = make_brief(s)
    return TrackSpec("t001", "Still Drift", brief, 5, main_s, "brief.toml", ("calm", "pad"))


def noise(seconds: float, *, db: float, seed: int = 0, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((channels, round(seconds * SR))) * 10 ** (db / 20)).astype(
        np.float32
    )


def clicks(bpm: float, seconds: float, *, hz: float = 440.0) -> np.ndarray:
    """A decaying tone on every beat at `bpm`, stereo."""
    n = round(seconds * SR)
    out = np.zeros(n, np.float32)
    hit = round(0.1 * SR)
    t = np.arange(hit) / SR
    burst = np.sin(2 * np.pi * hz * t) * np.exp(-t * 40)
    for start in np.arange(0, n - hit, 60 / bpm * SR).astype(int):
        out[start : start + hit] += burst
    return np.stack([out, out]) * 0.5


@pytest.mark.parametrize(
    ("stems", "loop"),
    [
        ({"a": noise(4, db=-30, seed=1), "b": noise(4, db=-24, seed=2)}, False),
        ({"mix": noise(4, db=-40)}, False),
        ({"a": noise(4, db=-10, seed=3), "b": clicks(120, 4)}, True),
    ],
)
def test_level_brings_the_sum_to_the_target_and_keeps_stems_summing(tmp_path, stems, loop):
    d = delivery()
    leveled = catalogue.level(stems, d, SR, loop=loop)
    assert set(leveled.stems) == set(stems)
    assert np.allclose(sum(leveled.stems.values()), leveled.mix, atol=1e-5)
    wav = tmp_path / "mix.wav"
    soundfile.write(wav, leveled.mix.T, SR, subtype="FLOAT")
    loud = measure_loudness(wav)  # ffmpeg's meter
    assert loud["integrated_lufs"] == pytest.approx(d.target_lufs, abs=0.5)
    assert loud["true_peak_dbtp"] <= d.true_peak_dbtp + 0.1


def test_a_loop_is_levelled_without_an_edge_at_its_seam():
    d = delivery()
    body = clicks(120, 4) + noise(4, db=-12)
    leveled = catalogue.level({"mix": body}, d, SR, loop=True)
    gain = leveled.mix[0] / np.where(np.abs(body[0]) > 1e-4, body[0], np.nan)
    head, tail = np.nanmedian(gain[: SR // 10]), np.nanmedian(gain[-SR // 10 :])
    assert abs(20 * math.log10(head / tail)) < 0.5  # the gain where it wraps round matches


@pytest.mark.parametrize(
    ("tonic", "mode", "name"),
    [
        (0, "major", "C major"),
        (9, "minor", "A minor"),
        (14, "dorian", "D minor"),  # pitch classes wrap
        (7, "mixolydian", "G major"),
        (3, "phrygian", "Eb minor"),
        (10, "aeolian", "Bb minor"),
        (6, "lydian", "F# major"),
    ],
)
def test_key_name(tonic, mode, name):
    assert catalogue.key_name(tonic, mode) == name


@pytest.mark.parametrize(
    ("version", "key", "title", "tkey"),
    [
        ("main", "A minor", "Still Drift", "Am"),
        ("30s", "F# major", "Still Drift (30s)", "F#"),
        ("loop-4", "Bb minor", "Still Drift (loop-4)", "Bbm"),
    ],
)
def test_track_tag_is_read_back_by_mutagen(tmp_path, version, key, title, tkey):
    s = spec()
    tag = catalogue.track_tag(
        s, delivery(), title="Still Drift", version=version, bpm=89.6, key=key, instruments=["pad"]
    )
    path = tmp_path / "t.mp3"
    path.write_bytes(tag)
    id3 = ID3(path)
    assert str(id3["TIT2"]) == title and str(id3["TKEY"]) == tkey
    assert (str(id3["TPE1"]), str(id3["TALB"])) == ("Test Composer", "Test Library")
    assert (str(id3["TCON"]), str(id3["TMOO"]), str(id3["TBPM"])) == ("ambient", "calm", "90")
    comment = str(id3.getall("COMM")[0])
    assert all(w in comment for w in ("calm, pad", "pad", "t001", f"version: {version}"))


def test_an_artist_left_empty_is_scoreflow(tmp_path):
    tag = catalogue.track_tag(
        spec(),
        delivery(artist=""),
        title="T",
        version="main",
        bpm=90,
        key="C major",
        instruments=[],
    )
    path = tmp_path / "t.mp3"
    path.write_bytes(tag)
    assert str(ID3(path)["TPE1"]) == "scoreflow"


def chord(root_hz: float, ratios: tuple[float, ...], seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    mono = sum(np.sin(2 * np.pi * root_hz * r * t) for r in ratios) / len(ratios)
    return np.stack([mono, mono]).astype(np.float32) * 0.3


A_MINOR = (1.0, 2 ** (3 / 12), 2 ** (7 / 12))  # A C E
C_MAJOR = (1.0, 2 ** (4 / 12), 2 ** (7 / 12))  # C E G


@pytest.mark.parametrize(
    ("root_hz", "triad", "plan_bpm", "plan_key", "key", "flagged"),
    [
        (220.0, A_MINOR, 120.0, "A minor", "A minor", []),
        (220.0, A_MINOR, 60.0, "A minor", "A minor", []),  # an octave off: folded
        (261.63, C_MAJOR, 120.0, "C major", "C major", []),
        (220.0, A_MINOR, 100.0, "A minor", "A minor", ["tempo"]),
        (220.0, A_MINOR, 120.0, "E major", "A minor", ["key"]),
    ],
)
def test_measured_tags(root_hz, triad, plan_bpm, plan_key, key, flagged):
    audio = clicks(120, 8) + chord(root_hz, triad, 8)
    got = catalogue.measured_tags(audio, SR, plan_bpm=plan_bpm, plan_key=plan_key)
    assert got["key"] == key
    kinds = [f.split()[0] for f in got["flags"]]
    assert kinds == flagged
    if "tempo" not in flagged:  # 120 bpm, an octave error folded onto the plan's
        assert got["bpm"] == pytest.approx(plan_bpm, rel=catalogue.TEMPO_TOLERANCE)
    else:
        assert f"planned {plan_bpm:.1f}" in got["flags"][0]
    if "key" in flagged:
        assert got["flags"][-1] == f"key measured {key}, planned {plan_key}"


@pytest.mark.parametrize(
    ("levels", "points"),
    [
        ((0.5, 0.25, 0.1, 1.0), 4),
        ((0.001,) * 10, 10),
        ((1e-12, 0.5), 2),  # silence is floored at -180 dBFS
    ],
)
def test_energy_curve_is_the_rms_level_of_each_part(levels, points):
    n = 480
    signs = np.where(np.arange(n) % 2, 1.0, -1.0)  # a square wave: its RMS is its amplitude
    audio = np.concatenate([a * signs for a in levels])
    stereo = np.stack([audio, -audio])
    expected = [round(20 * math.log10(max(a, 1e-9)), 1) for a in levels]
    assert catalogue.energy_curve(stereo, SR, points=points) == expected


def test_energy_curve_of_audio_shorter_than_its_points():
    assert catalogue.energy_curve(np.zeros((2, 9)), SR, points=10) == []


def test_features_are_written_as_compact_json(tmp_path):
    path = tmp_path / "features.json"
    features = {"chroma": [0.1, 0.2], "melody": "CDE", "tempo": 90.0}
    catalogue.write_features(path, features)
    assert json.loads(path.read_text()) == features and " " not in path.read_text()


class ToneBackend:
    """An audio-only backend that renders a tone a little longer than asked (as neural
    backends do), mono."""

    name = "tone"
    model = "sine-1"
    licence = "CC0-1.0"
    sample_rate = SR

    def generate(self, briefs, *, seconds, seed):
        n = round((seconds[0] + 0.5) * SR)
        t = np.arange(n) / SR
        audio = (0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32)
        return [Cue(briefs[0].scene_id, audio, SR, self.name, self.model, "p", seed, "CC0-1.0")]


def test_make_builder_takes_the_composers_arrangement_only_from_the_composer(tmp_path):
    from scoreflow import config
    from scoreflow.tasks.engines import get_backend

    composer = get_backend(config.load_settings(None, {}))  # the default backend
    kw = {"seed": 5, "title": "T", "versions": ["main"]}
    made = catalogue.make_builder(composer, spec(), delivery(), tmp_path / "a", **kw)
    assert type(made) is catalogue.TrackBuilder
    assert made.bpm == pytest.approx(90.0, abs=1)
    other = catalogue.make_builder(ToneBackend(), spec(), delivery(), tmp_path / "b", **kw)
    assert type(other) is catalogue.AudioTrackBuilder


@pytest.mark.parametrize(
    ("formats", "versions", "stems", "missing"),
    [
        (("wav", "mp3"), ["main"], False, []),
        (("mp3",), ["main", "30s", "loop-4", "underscore"], True, ["30s", "loop-4", "underscore"]),
        (("wav",), ["main", "sting"], False, ["sting"]),
    ],
)
def test_an_audio_only_track(tmp_path, formats, versions, stems, missing):
    d = delivery(formats=formats, stems=stems)
    folder = tmp_path / "root" / "tracks" / "t001"
    s = spec(main_s=3.0)
    builder = catalogue.make_builder(
        ToneBackend(), s, d, folder, seed=5, title="Still Drift", versions=versions
    )
    record = builder.build()
    rows = record["rows"]
    assert [r["format"] for r in rows] == [f for f in ("wav", "mp3") if f in formats]
    assert record["bpm"] == 90.0 and record["key"] == "A minor"
    for r in rows:
        path = tmp_path / "root" / r["file"]
        assert r["file"] == f"tracks/t001/t001_main.{r['format']}"
        assert r["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert r["bytes"] == path.stat().st_size
        assert (r["version"], r["kind"], r["samples"]) == ("main", "main", 3 * SR)
        assert r["loudness_lufs"] == pytest.approx(d.target_lufs, abs=0.5)
        assert r["true_peak_dbtp"] <= d.true_peak_dbtp + 0.1
    assert ("wav" in formats) == (folder / "t001_main.wav").exists()
    if "wav" in formats:
        wav = folder / "t001_main.wav"
        audio, sr = soundfile.read(wav, always_2d=True)
        assert sr == SR and audio.shape == (3 * SR, 2)
        assert np.array_equal(audio[:, 0], audio[:, 1])  # mono spread to both channels
        assert np.abs(audio[-10:]).max() < 1e-3  # the ring-out taper
        info = WavInfoReader(str(wav))
        assert info.bext.loudness_value == pytest.approx(rows[0]["loudness_lufs"], abs=0.006)
        assert info.ixml.scene == "t001" and info.ixml.take == "main"
    unavailable = record["unavailable"]
    assert all(v in unavailable for v in missing) and "MIDI" in unavailable
    for v in versions[1:]:
        assert f"{v} (" in unavailable and "which tone does not give" in unavailable
    assert ("stems (tone renders one mixed signal)" in unavailable) == stems
