"""Configuration: TOML defaults shipped here, a project file and CLI flags on top.

Everything is validated on load; an unknown key or a wrong type is an `InputError` that
names the file, the key and the value.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from scoreflow.tasks.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("config file not found", source=str(path)) from None
    except IsADirectoryError:
        raise InputError("a folder, not a config file", source=str(path),
                         fix="Give a TOML file such as project.toml") from None  # fmt: skip
    except OSError as exc:
        raise InputError(f"cannot read the config ({exc.strerror})", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", source=str(path)) from None


@cache
def _shipped(name: str) -> dict[str, Any]:
    return _read_toml(CONFIG_DIR / name)


def defaults() -> dict[str, Any]:
    """A fresh copy of config/defaults.toml."""
    return copy.deepcopy(_shipped("defaults.toml"))


def loudness_presets() -> dict[str, Any]:
    """Delivery presets from config/loudness.toml, by name."""
    return copy.deepcopy(_shipped("loudness.toml"))


def preset(cfg: dict[str, Any]) -> dict[str, Any]:
    """The delivery preset a config chose, with ``gate`` ("programme" or "dialogue")."""
    name = cfg["pipeline"]["preset"]
    chosen = {"gate": "programme", **loudness_presets()[name], "name": name}
    if name == "custom":
        chosen["target_lufs"] = cfg["mix"]["custom_target_lufs"]
        chosen["true_peak_dbtp"] = cfg["mix"]["custom_true_peak_dbtp"]
    return chosen


BASS_STYLES = ("sustained", "root-fifth", "eighths", "octaves", "syncopated", "walking")
ROLES = ("keys", "pad", "lead", "bass", "guitar", "perc")


def styles(extra: str = "") -> dict[str, Any]:
    """The composer's vocabulary: config/styles.toml, with a user's styles file merged on top.

    Parameters
    ----------
    extra : str
        Path of a TOML file shaped like config/styles.toml (``composer.styles`` in the
        config). Its genres, moods, instruments and patterns are added; entries with a
        shipped name replace the shipped keys they set.
    """
    mtime = Path(extra).stat().st_mtime_ns if extra and Path(extra).is_file() else 0
    return _styles(extra, mtime)


@cache
def _styles(extra: str, mtime: int) -> dict[str, Any]:
    """`styles`, cached per file version (`mtime`)."""
    vocab = copy.deepcopy(_shipped("styles.toml"))
    source = str(CONFIG_DIR / "styles.toml")
    if extra:
        source = extra
        for section, table in _read_toml(Path(extra)).items():
            if not isinstance(table, dict):
                raise InputError("expected a table", source=extra, field=section, value=table)
            for name, entry in table.items():
                font = entry.get("soundfont") if isinstance(entry, dict) else None
                if section == "instruments" and isinstance(font, str) and font:
                    entry["soundfont"] = str(Path(extra).resolve().parent / Path(font).expanduser())
                target = vocab.setdefault(section, {})
                if isinstance(entry, dict) and isinstance(target.get(name), dict):
                    target[name].update(entry)
                else:
                    target[name] = entry
    _check_styles(vocab, source)
    return vocab


def styles_digest(extra: str = "") -> str:
    """SHA-256 of the vocabulary in effect (shipped styles plus `extra`), for cache keys."""
    digest = hashlib.sha256((CONFIG_DIR / "styles.toml").read_bytes())
    if extra:
        digest.update(Path(extra).read_bytes())
    return digest.hexdigest()


def _check_styles(vocab: dict[str, Any], source: str) -> None:
    def bad(field: str, value: Any, fix: str) -> InputError:
        return InputError("invalid style entry", source=source, field=field, value=value, fix=fix)

    instruments, drums = vocab["instruments"], vocab["drums"]
    for name, inst in instruments.items():
        if inst.get("role") not in ROLES:
            raise bad(f"instruments.{name}.role", inst.get("role"), f"Use one of {ROLES}")
        if not 0 <= int(inst.get("program", -1)) <= 127:
            raise bad(f"instruments.{name}.program", inst.get("program"), "A GM program 0-127")
        font = inst.get("soundfont", "")
        if font and not Path(font).is_file():
            raise bad(f"instruments.{name}.soundfont", font, "The path of a .sf2 or .sf3 file")
        span = inst.get("range")
        if not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(v, int) for v in span)
            and 0 <= span[0] <= span[1] - 12 <= 115
        ):
            raise bad(
                f"instruments.{name}.range",
                span,
                "[lowest, highest] MIDI notes of the real instrument, at least an octave apart",
            )
    for name, g in vocab["genres"].items():
        lo, hi = g.get("tempo_bpm", (0, 0))
        if not 20 <= lo <= hi <= 300:
            raise bad(f"genres.{name}.tempo_bpm", g.get("tempo_bpm"), "[lo, hi] within 20-300")
        for inst in g.get("instruments", []):
            if inst not in instruments:
                raise bad(f"genres.{name}.instruments", inst, "Name instruments defined here")
        if g.get("drums") not in drums:
            raise bad(f"genres.{name}.drums", g.get("drums"), f"One of {', '.join(drums)}")
        if g.get("bass") not in BASS_STYLES:
            raise bad(f"genres.{name}.bass", g.get("bass"), f"One of {', '.join(BASS_STYLES)}")
        for mode in ("major", "minor"):
            if not g.get(mode):
                raise bad(f"genres.{name}.{mode}", g.get(mode), "At least one progression")
    for name, m in vocab["moods"].items():
        if not (-1 <= m.get("valence", 9) <= 1 and 0 <= m.get("arousal", 9) <= 1):
            raise bad(f"moods.{name}", m, "valence in -1..1 and arousal in 0..1")
    _check_production(vocab.get("production", {}), bad)
    for name, pattern in drums.items():
        for part in ("kick", "snare", "hat", "tom"):
            if len(pattern.get(part, "")) != 16:
                raise bad(f"drums.{name}.{part}", pattern.get(part), "16 steps of x, o or .")


PRODUCTION_RANGES = {
    "reverb_send": (0.0, 3.0),
    "width": (0.0, 2.0),
    "low_db": (-12.0, 12.0),
    "presence_db": (-12.0, 12.0),
    "air_db": (-12.0, 12.0),
    "exciter": (0.0, 4.0),
    "glue_ratio": (1.0, 10.0),
    "glue_threshold_db": (-40.0, 0.0),
}


def _check_production(templates: dict[str, Any], bad: Any) -> None:
    from scoreflow.tasks.engines.composer.production import SPACES

    if "default" not in templates:
        raise bad("production.default", None, "Keep a [production.default] template")
    for name, t in templates.items():
        if t.get("reverb", "room") not in SPACES:
            raise bad(f"production.{name}.reverb", t.get("reverb"), f"One of {', '.join(SPACES)}")
        for key, value in t.items():
            if key == "reverb":
                continue
            if key not in PRODUCTION_RANGES:
                known = ", ".join(PRODUCTION_RANGES)
                raise bad(f"production.{name}.{key}", value, f"Settings: reverb, {known}")
            lo, hi = PRODUCTION_RANGES[key]
            if not isinstance(value, int | float) or not lo <= value <= hi:
                raise bad(f"production.{name}.{key}", value, f"A number from {lo} to {hi}")


def _merge(base: dict[str, Any], extra: dict[str, Any], *, source: str, prefix: str = "") -> None:
    for key, value in extra.items():
        name = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(f"{prefix}{k}" for k in base)
            raise InputError(
                "unknown config key", source=source, field=name, fix=f"Known keys: {known}"
            )
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise InputError("expected a table", source=source, field=name, value=value)
            _merge(base[key], value, source=source, prefix=f"{name}.")
            continue
        want = type(base[key])
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise InputError(f"expected {want.__name__}", source=source, field=name, value=value)
        base[key] = value


#: settings that name files or folders: relative ones are relative to the project file
PATHS = (
    ("composer", "styles"),
    ("composer", "soundfont"),
    ("cache", "dir"),
    ("quality", "reference"),
)


def layered(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` settings with the tables of `over` merged into them key by key (None values
    of `over` skipped): an earlier run's settings under new flags."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in over.items():
        kept = {k: v for k, v in values.items() if v is not None}
        out[section] = {**out.get(section, {}), **kept}
    return out


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then a project TOML file, then overrides (e.g. CLI flags), validated.

    Parameters
    ----------
    path : str or Path, optional
        A project config with any subset of the keys of config/defaults.toml (a local path
        or an ``s3://`` URI).
    overrides : dict, optional
        Nested like the TOML (``{"pipeline": {"seed": 3}}``); ``None`` values are skipped.
    """
    config = defaults()
    if path is not None and str(path).startswith("s3://"):
        from scoreflow.tasks.cloud.storage import fetch, work_dir

        path = fetch(path, work_dir(), what="config")
    if path is not None:
        project = _read_toml(Path(path))
        for section, key in PATHS:  # paths in a project file are relative to it
            value = project.get(section, {}).get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                project[section][key] = str(Path(path).resolve().parent / value)
        _merge(config, project, source=str(path))
    if overrides:
        clean = {
            section: {k: v for k, v in values.items() if v is not None}
            for section, values in overrides.items()
        }
        _merge(config, clean, source="command line")
    try:
        _validate(config)
    except InputError as exc:  # say which file the value may have come from
        raise exc.located(source=str(path) if path else None) from None
    return config


def _validate(config: dict[str, Any]) -> None:
    """Every value of a merged config in range, finite and supported."""
    pipeline = config["pipeline"]
    presets = loudness_presets()
    if pipeline["preset"] not in presets:
        raise InputError(
            "unknown loudness preset",
            field="pipeline.preset",
            value=pipeline["preset"],
            fix=f"Use one of {', '.join(presets)}",
        )
    if pipeline["sample_rate"] not in (44100, 48000, 96000):
        raise InputError(
            "unsupported sample rate",
            field="pipeline.sample_rate",
            value=pipeline["sample_rate"],
            fix="Use 44100, 48000 or 96000",
        )
    _check_finite(config)
    _check_output(config)
    _check_runner(pipeline)
    for section, key, lo, hi in (
        ("composer", "gain_db", -60.0, 12.0),
        ("composer", "reverb", 0.0, 2.0),
        ("align", "max_stretch", 0.0, 0.25),
        ("align", "fade_out_s", 0.0, 5.0),
        ("align", "declick_s", 0.0, 0.1),
        ("mix", "crossfade_s", 0.0, 10.0),
        ("mix", "intensity_range_lu", 0.0, 20.0),
        ("mix", "fade_in_s", 0.0, 60.0),
        ("mix", "fade_out_s", 0.0, 60.0),
        ("mix", "duck_db", 0.0, 40.0),
        ("mix", "duck_attack_s", 0.0, 5.0),
        ("mix", "duck_release_s", 0.0, 10.0),
        ("mix", "speech_margin_db", 3.0, 40.0),
        ("mix", "music_vs_dialogue_lu", -30.0, 10.0),
        ("mix", "custom_target_lufs", -40.0, -5.0),
        ("mix", "custom_true_peak_dbtp", -9.0, 0.0),
        ("cache", "expire_days", 0.0, 36500.0),
        ("pipeline", "takes", 1, 16),
        ("quality", "tempo_tolerance_pct", 0.1, 50.0),
        ("quality", "hit_tolerance_ms", 1.0, 1000.0),
        ("quality", "out_of_key_max", 0.0, 1.0),
        ("quality", "clashes_max", 0.0, 1.0),
        ("quality", "likeness_max", 0.0, 1.0),
        ("quality", "silence_s_max", 0.0, 60.0),
        ("quality", "tail_s", 0.0, 30.0),
    ):
        if not lo <= config[section][key] <= hi:
            raise InputError(
                f"must be between {lo} and {hi}",
                field=f"{section}.{key}",
                value=config[section][key],
            )
    weights = config["quality"]["weights"]
    bad = next((k for k, v in weights.items() if v < 0), None)
    if bad is not None or not any(weights.values()):
        raise InputError(
            "quality weights must be 0 or more, and not all 0",
            field=f"quality.weights.{bad}" if bad else "quality.weights",
            value=weights[bad] if bad else weights,
        )


RUNNERS = ("thread", "dask")  # `flows.runners`


def _check_runner(pipeline: dict[str, Any]) -> None:
    """The task runner settings name a runner that exists, with sound numbers."""
    kind = pipeline["task_runner"]
    if kind not in RUNNERS:
        raise InputError(
            "unknown task runner", field="pipeline.task_runner", value=kind,
            fix=f"Use one of {', '.join(RUNNERS)}",
        )  # fmt: skip
    address = str(pipeline["dask_address"])
    if address and not address.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise InputError(
            "not a Dask scheduler address", field="pipeline.dask_address", value=address,
            fix='Give the scheduler\'s address, e.g. "tcp://10.0.0.5:8786", or "" for a '
            "local cluster",
        )  # fmt: skip
    for key, lo in (("dask_workers", 1), ("cue_concurrency", 0), ("threads", 0)):
        value = pipeline[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise InputError(
                f"must be a whole number, {lo} or more", field=f"pipeline.{key}", value=value
            )


def _check_finite(config: dict[str, Any], prefix: str = "") -> None:
    """Every number in the config is finite (nan and inf pass every range check)."""
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _check_finite(value, name + ".")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError("must be a finite number", field=name, value=value)


def _check_output(config: dict[str, Any]) -> None:
    """The output formats ffmpeg and libsndfile are asked for exist."""
    import soundfile

    from scoreflow.tasks.audio.mux import check_audio_options

    out = config["output"]
    subtypes = soundfile.available_subtypes("WAV")
    if out["wav_subtype"] not in subtypes:
        raise InputError(
            "not a WAV subtype",
            field="output.wav_subtype",
            value=out["wav_subtype"],
            fix="Use PCM_16, PCM_24, PCM_32 or FLOAT",
        )
    check_audio_options(None, out["audio_codec"], out["audio_bitrate"])


def cache_dir(cfg: dict[str, Any]) -> Path:
    """Where generated cues are kept: ``cache.dir``, else ``$SCOREFLOW_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/scoreflow`` (``~/.cache/scoreflow``)."""
    chosen = cfg["cache"]["dir"] or os.environ.get("SCOREFLOW_CACHE_DIR")
    if not chosen:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        chosen = str(Path(base) / "scoreflow")
    return Path(chosen).expanduser()
