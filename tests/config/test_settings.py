"""The typed settings: defaults, a project file and flags, validated with messages that
name the file, the key, the value and the fix."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from scoreflow import config
from scoreflow.config.settings import RANGES, Settings
from scoreflow.tasks.errors import InputError

SHIPPED = Path(config.__file__).parent
DEFAULTS = tomllib.loads((SHIPPED / "defaults.toml").read_text())
PRESETS = list(tomllib.loads((SHIPPED / "loudness.toml").read_text()))
FILE = "<the project file>"  # stands for the file the case writes


class Ok(NamedTuple):
    """A valid case: the settings hold these values (dotted TOML names)."""

    values: dict[str, Any]


class Bad(NamedTuple):
    """An invalid case: the `InputError` expected."""

    source: str | None
    field: str
    message: str
    value: Any = None
    fix: str | None = None


def known(*table: str) -> str:
    """The fix for an unknown key: the keys defaults.toml has at that level."""
    level: dict[str, Any] = DEFAULTS
    for name in table:
        level = level[name]
    prefix = "".join(f"{name}." for name in table)
    return "Known keys: " + ", ".join(prefix + key for key in level)


def wrong_type(dotted: str, value: Any, source: str | None = FILE) -> Bad:
    """A value of another TOML type than the default's (a table, a list, str, int...)."""
    default: Any = DEFAULTS
    for name in dotted.split("."):
        default = default[name]
    kind = {dict: "a table", list: "list"}.get(type(default), type(default).__name__)
    return Bad(source, dotted, f"expected {kind}", value)


def out_of_range(dotted: str, value: Any, lo: float, hi: float) -> Bad:
    return Bad(FILE, dotted, f"must be between {lo} and {hi}", value)


def not_whole(dotted: str, value: int, lo: int) -> Bad:
    return Bad(FILE, dotted, f"must be a whole number, {lo} or more", value)


WEIGHTS_RULE = "quality weights must be 0 or more, and not all 0"
ZERO_WEIGHTS = {name: 0.0 for name in DEFAULTS["quality"]["weights"]}
CODECS = "aac, ac3, alac, eac3, flac, mp3, opus, pcm_s16le, pcm_s24le, pcm_s32le"


@pytest.mark.parametrize(
    ("project", "flags", "expected"),
    [
        # valid: the layers, in order, and the values as the TOML typed them
        (None, None, Ok({"pipeline.seed": 0, "mix.crossfade_s": 0.5})),
        ("", {}, Ok({"pipeline.preset": "ebu-r128"})),
        ("[mix]\ncrossfade_s = 2\n", None, Ok({"mix.crossfade_s": 2.0})),
        ("[pipeline]\nseed = 3\n", {"pipeline": {"seed": 5, "model": None}},
         Ok({"pipeline.seed": 5, "pipeline.model": ""})),
        ("[ace-step]\nsteps = 30\n", {"stable-audio": {"steps": 50}},
         Ok({"ace-step.steps": 30, "stable-audio.steps": 50})),
        ('[library]\nmain_s = [120, 180]\nloops_bars = [4, "x"]\n', None,
         Ok({"library.main_s": [120, 180], "library.loops_bars": [4, "x"]})),
        ('[composer]\nstyles = "mine.toml"\n[quality]\nreference = "/lib"\n', None,
         Ok({"composer.styles": "<dir>/mine.toml", "quality.reference": "/lib"})),
        ("[quality.weights]\nsync = 0.0\ntechnical = 3\n", None,
         Ok({"quality.weights.sync": 0.0, "quality.weights.technical": 3.0})),
        ('[pipeline]\npreset = "custom"\ntakes = 16\n', None,
         Ok({"pipeline.preset": "custom", "pipeline.takes": 16})),
        # unknown keys, at every level, from the file or the flags
        ("[foo]\na = 1\n", None, Bad(FILE, "foo", "unknown config key", fix=known())),
        ("[mix]\nfoo = 1\n", None, Bad(FILE, "mix.foo", "unknown config key", fix=known("mix"))),
        ("[ace-step]\nfoo = 1\n", None,
         Bad(FILE, "ace-step.foo", "unknown config key", fix=known("ace-step"))),
        ("[quality.weights]\nbeauty = 1.0\n", None,
         Bad(FILE, "quality.weights.beauty", "unknown config key",
             fix=known("quality", "weights"))),
        (None, {"mix": {"foo": 1}},
         Bad("command line", "mix.foo", "unknown config key", fix=known("mix"))),
        ('[foo]\na = 1\n[pipeline]\nseed = "x"\n', None,
         Bad(FILE, "foo", "unknown config key", fix=known())),
        # wrong types: the first bad key in the file's order
        ('[pipeline]\nseed = "x"\n[foo]\na = 1\n', None, wrong_type("pipeline.seed", "x")),
        ('[mix]\nfade_in_s = "a"\ncrossfade_s = "b"\n', None, wrong_type("mix.fade_in_s", "a")),
        ("[mix]\ncrossfade_s = true\n", None, wrong_type("mix.crossfade_s", True)),
        ("[pipeline]\nseed = 1.0\n", None, wrong_type("pipeline.seed", 1.0)),
        ("[pipeline]\nseed = true\n", None, wrong_type("pipeline.seed", True)),
        ("[mix]\nwith_original = 1\n", None, wrong_type("mix.with_original", 1)),
        ("[pipeline]\nbackend = 1\n", None, wrong_type("pipeline.backend", 1)),
        ("[library]\nmain_s = 150\n", None, wrong_type("library.main_s", 150)),
        ("[pipeline.seed]\na = 1\n", None, wrong_type("pipeline.seed", {"a": 1})),
        ("pipeline = 3\n", None, wrong_type("pipeline", 3)),
        ("[quality]\nweights = 3\n", None, wrong_type("quality.weights", 3)),
        (None, {"pipeline": {"seed": "x"}}, wrong_type("pipeline.seed", "x", "command line")),
        # out of range, not finite, not supported
        ("[composer]\ngain_db = 13.0\n", None, out_of_range("composer.gain_db", 13.0, -60.0, 12.0)),
        ("[composer]\ngain_db = 1e308\n", None,
         out_of_range("composer.gain_db", 1e308, -60.0, 12.0)),
        ("[pipeline]\ntakes = 17\n", None, out_of_range("pipeline.takes", 17, 1, 16)),
        ("", {"align": {"max_stretch": 0.5}}, out_of_range("align.max_stretch", 0.5, 0.0, 0.25)),
        ("[mix]\nintensity_range_lu = 30.0\nfade_in_s = 100.0\n", None,
         out_of_range("mix.intensity_range_lu", 30.0, 0.0, 20.0)),
        ("[composer]\ngain_db = nan\n", None,
         Bad(FILE, "composer.gain_db", "must be a finite number", math.nan)),
        ("[quality.weights]\nsync = inf\n", None,
         Bad(FILE, "quality.weights.sync", "must be a finite number", math.inf)),
        ('[pipeline]\npreset = "loud"\n', None,
         Bad(FILE, "pipeline.preset", "unknown loudness preset", "loud",
             f"Use one of {', '.join(PRESETS)}")),
        (None, {"pipeline": {"preset": "loud"}},
         Bad(None, "pipeline.preset", "unknown loudness preset", "loud",
             f"Use one of {', '.join(PRESETS)}")),
        ("[pipeline]\nsample_rate = 22050\n", None,
         Bad(FILE, "pipeline.sample_rate", "unsupported sample rate", 22050,
             "Use 44100, 48000 or 96000")),
        ('[pipeline]\ntask_runner = "ray"\n', None,
         Bad(FILE, "pipeline.task_runner", "unknown task runner", "ray",
             "Use one of thread, dask")),
        ("[pipeline]\ndask_workers = 0\n", None, not_whole("pipeline.dask_workers", 0, 1)),
        ("[pipeline]\ncue_concurrency = -1\n", None, not_whole("pipeline.cue_concurrency", -1, 0)),
        ("[pipeline]\nthreads = -2\n", None, not_whole("pipeline.threads", -2, 0)),
        ("[quality.weights]\nsync = -1.0\n", None,
         Bad(FILE, "quality.weights.sync", WEIGHTS_RULE, -1.0)),
        ("[quality.weights]\n" + "".join(f"{k} = 0\n" for k in ZERO_WEIGHTS), None,
         Bad(FILE, "quality.weights", WEIGHTS_RULE, ZERO_WEIGHTS)),
        ('[output]\nwav_subtype = "PCM_99"\n', None,
         Bad(FILE, "output.wav_subtype", "not a WAV subtype", "PCM_99",
             "Use PCM_16, PCM_24, PCM_32 or FLOAT")),
        ('[output]\naudio_codec = "vorbis-ish"\n', None,
         Bad(FILE, "output.audio_codec", "unknown audio codec", "vorbis-ish",
             f"Use auto or one of {CODECS}")),
        ('[output]\naudio_bitrate = "lots"\n', None,
         Bad(FILE, "output.audio_bitrate", "not an audio bitrate", "lots",
             "Write it as e.g. 256k (32k to 1536k)")),
    ],
)  # fmt: skip
def test_settings_load_or_name_the_key(tmp_path, project, flags, expected):
    path = None
    if project is not None:
        path = tmp_path / "project.toml"
        path.write_text(project)
    if isinstance(expected, Bad):
        with pytest.raises(InputError) as caught:
            config.load_settings(path, flags)
        exc = caught.value
        source = str(path) if expected.source == FILE else expected.source
        got = (exc.source, exc.field, exc.message, exc.fix)
        assert got == (source, expected.field, expected.message, expected.fix)
        if isinstance(expected.value, float) and math.isnan(expected.value):
            assert math.isnan(exc.value)
        else:
            assert exc.value == expected.value and type(exc.value) is type(expected.value)
        return
    settings = config.load_settings(path, flags)
    assert isinstance(settings, Settings)
    dumped = settings.model_dump()
    for dotted, value in expected.values.items():
        *tables, key = dotted.split(".")
        held = dumped
        for table in tables:
            held = held[table]
        if isinstance(value, str):
            value = value.replace("<dir>", str(tmp_path))
        assert held[key] == value and type(held[key]) is type(value), dotted


def test_the_models_are_the_tables_of_defaults_toml():
    settings = config.load_settings()
    assert settings.model_dump() == DEFAULTS  # same tables, keys, values ...
    assert repr(settings.model_dump()) == repr(DEFAULTS)  # ... order and types
    assert settings.ace_step.steps == DEFAULTS["ace-step"]["steps"]
    assert settings.quality.weights.sync == DEFAULTS["quality"]["weights"]["sync"]
    assert settings.library.main_s == tuple(DEFAULTS["library"]["main_s"])
    for table, key, lo, hi in RANGES:
        assert lo <= DEFAULTS[table][key] <= hi, (table, key)


def test_settings_are_immutable_and_hashable_by_value():
    from prefect.utilities.hashing import hash_objects

    one = config.load_settings(None, {"pipeline": {"seed": 0}})
    same, other = config.load_settings(), config.load_settings(None, {"pipeline": {"seed": 1}})
    assert one == same and hash(one) == hash(same) and hash_objects(one) == hash_objects(same)
    assert one != other and hash_objects(one) != hash_objects(other)
    with pytest.raises(ValueError):  # pydantic's ValidationError: frozen
        one.pipeline.seed = 3  # type: ignore[misc]
    assert one.model_copy(update={"project": other.project}) == one


def test_from_dict_reads_a_dump_back_and_names_its_source():
    settings = config.load_settings(None, {"mix": {"crossfade_s": 1.5}})
    assert Settings.from_dict(settings.model_dump()) == settings
    earlier = settings.model_dump()
    earlier["mix"]["crossfade_s"] = "long"
    with pytest.raises(InputError) as caught:
        Settings.from_dict(earlier, source="run/manifest.json")
    exc = caught.value
    assert (exc.source, exc.field, exc.message) == ("run/manifest.json", "mix.crossfade_s",
                                                    "expected float")  # fmt: skip


EARLIER = {"mix": {"crossfade_s": 1.5}, "pipeline": {"seed": 4, "backend": "composer"}}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, Ok({"mix.crossfade_s": 1.5, "pipeline.seed": 4})),
        ({"pipeline": {"seed": None, "backend": None}}, Ok({"pipeline.seed": 4})),  # not given
        ({"pipeline": {"seed": 9}, "ace-step": {"guide": "composer"}},
         Ok({"pipeline.seed": 9, "ace-step.guide": "composer", "mix.crossfade_s": 1.5})),
        ({"pipeline": {"preset": "loud"}},
         Bad(None, "pipeline.preset", "unknown loudness preset", "loud",
             f"Use one of {', '.join(PRESETS)}")),
        ({"pipeline": {"seed": "9"}}, Bad("command line", "pipeline.seed", "expected int", "9")),
    ],
)  # fmt: skip
def test_an_earlier_runs_settings_take_new_flags(flags, expected):
    earlier = config.load_settings(None, EARLIER)
    if isinstance(expected, Bad):
        with pytest.raises(InputError) as caught:
            config.layered(earlier, flags)
        exc = caught.value
        got = (exc.source, exc.field, exc.message, exc.value, exc.fix)
        assert got == (expected.source, expected.field, expected.message, expected.value,
                       expected.fix)  # fmt: skip
        return
    settings = config.layered(earlier, flags)
    dumped = settings.model_dump()
    for dotted, value in expected.values.items():
        table, key = dotted.split(".")
        assert dumped[table][key] == value, dotted
    assert settings.quality == earlier.quality and settings.library == earlier.library


@pytest.mark.parametrize(
    ("preset", "mix", "expected"),
    [
        ("ebu-r128", {}, {"gate": "programme", "target_lufs": -23.0, "true_peak_dbtp": -1.0}),
        ("netflix", {}, {"gate": "dialogue", "target_lufs": -27.0, "true_peak_dbtp": -2.0}),
        ("custom", {"custom_target_lufs": -20.0, "custom_true_peak_dbtp": -3.0},
         {"target_lufs": -20.0, "true_peak_dbtp": -3.0}),
    ],
)  # fmt: skip
def test_the_preset_is_the_one_the_settings_name(preset, mix, expected):
    chosen = config.preset(config.load_settings(None, {"pipeline": {"preset": preset}, "mix": mix}))
    assert chosen["name"] == preset
    assert {k: chosen[k] for k in expected} == expected


def test_the_tables_that_moved_down_are_the_ones_tasks_use():
    from scoreflow.config import audio
    from scoreflow.tasks.audio import mux
    from scoreflow.tasks.engines.composer.production import SPACES

    assert tuple(SPACES) == config.REVERB_SPACES
    assert mux.CONTAINER_CODECS is audio.CONTAINER_CODECS
    assert mux.check_audio_options is audio.check_audio_options
    assert mux.audio_codec_for("mov") == "pcm_s24le"
