"""Configuration: TOML defaults shipped here, a project file and CLI flags on top.

Everything is validated on load; an unknown key or a wrong type is an `InputError` that
names the file, the key and the value.
"""

from __future__ import annotations

import copy
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from tasks.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("config file not found", source=str(path)) from None
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


def styles() -> dict[str, Any]:
    """The composer's vocabulary from config/styles.toml."""
    return _shipped("styles.toml")


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


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then a project TOML file, then overrides (e.g. CLI flags), validated.

    Parameters
    ----------
    path : str or Path, optional
        A project config with any subset of the keys of config/defaults.toml.
    overrides : dict, optional
        Nested like the TOML (``{"pipeline": {"seed": 3}}``); ``None`` values are skipped.
    """
    config = defaults()
    if path is not None:
        _merge(config, _read_toml(Path(path)), source=str(path))
    if overrides:
        clean = {
            section: {k: v for k, v in values.items() if v is not None}
            for section, values in overrides.items()
        }
        _merge(config, clean, source="command line")
    pipeline = config["pipeline"]
    presets = loudness_presets()
    if pipeline["preset"] not in presets:
        raise InputError(
            "unknown loudness preset",
            source=str(path) if path else "command line",
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
    for section, key, lo, hi in (
        ("align", "max_stretch", 0.0, 0.25),
        ("align", "fade_out_s", 0.0, 5.0),
        ("align", "declick_s", 0.0, 0.1),
        ("mix", "crossfade_s", 0.0, 10.0),
    ):
        if not lo <= config[section][key] <= hi:
            raise InputError(
                f"must be between {lo} and {hi}",
                field=f"{section}.{key}",
                value=config[section][key],
            )
    return config
