"""Configuration: TOML defaults shipped here, a project file and CLI flags on top.

Everything is validated on load against the typed models of `scoreflow.config.settings`;
an unknown key or a wrong type is an `InputError` that names the file, the key and the
value.
"""

from __future__ import annotations

import copy
import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from scoreflow.config.audio import check_audio_options
from scoreflow.config.files import CONFIG_DIR, defaults, loudness_presets, read_toml, shipped
from scoreflow.config.settings import RANGES, RUNNERS, Settings, validated
from scoreflow.config.vocabulary import (
    BASS_STYLES,
    PRODUCTION_RANGES,
    REVERB_SPACES,
    ROLES,
    check_styles,
)
from scoreflow.tasks.errors import InputError

__all__ = [
    "BASS_STYLES",
    "CONFIG_DIR",
    "PATHS",
    "PRODUCTION_RANGES",
    "RANGES",
    "REVERB_SPACES",
    "ROLES",
    "RUNNERS",
    "Settings",
    "cache_dir",
    "check_audio_options",
    "defaults",
    "layered",
    "load_settings",
    "loudness_presets",
    "preset",
    "styles",
    "styles_digest",
]


def preset(settings: Settings) -> dict[str, Any]:
    """The delivery preset the settings chose, with ``gate`` ("programme" or "dialogue")."""
    name = settings.pipeline.preset
    chosen = {"gate": "programme", **loudness_presets()[name], "name": name}
    if name == "custom":
        chosen["target_lufs"] = settings.mix.custom_target_lufs
        chosen["true_peak_dbtp"] = settings.mix.custom_true_peak_dbtp
    return chosen


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
    vocab = copy.deepcopy(shipped("styles.toml"))
    source = str(CONFIG_DIR / "styles.toml")
    if extra:
        source = extra
        for section, table in read_toml(Path(extra)).items():
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
    check_styles(vocab, source)
    return vocab


def styles_digest(extra: str = "") -> str:
    """SHA-256 of the vocabulary in effect (shipped styles plus `extra`), for cache keys."""
    digest = hashlib.sha256((CONFIG_DIR / "styles.toml").read_bytes())
    if extra:
        digest.update(Path(extra).read_bytes())
    return digest.hexdigest()


#: settings that name files or folders: relative ones are relative to the project file
PATHS = (
    ("composer", "styles"),
    ("composer", "soundfont"),
    ("cache", "dir"),
    ("quality", "reference"),
)


def layered(base: Settings, over: dict[str, Any]) -> Settings:
    """`base` with the tables of `over` (flags, nested like the TOML) merged into them key by
    key, None values skipped, validated as the command line's: an earlier run's settings
    under new flags."""
    out = base.model_dump()
    for section, values in over.items():
        kept = {k: v for k, v in values.items() if v is not None}
        out[section] = {**out.get(section, {}), **kept}
    return load_settings(None, out)


def load_settings(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Defaults, then a project TOML file, then overrides (e.g. CLI flags), validated.

    Parameters
    ----------
    path : str or Path, optional
        A local project config with any subset of the keys of config/defaults.toml (the
        flows fetch an ``s3://`` one first: `scoreflow.flows.settings.load`).
    overrides : dict, optional
        Nested like the TOML (``{"pipeline": {"seed": 3}}``); ``None`` values are skipped.
    """
    config = defaults()
    if path is not None:
        project = read_toml(Path(path))
        for section, key in PATHS:  # paths in a project file are relative to it
            value = project.get(section, {}).get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                project[section][key] = str(Path(path).resolve().parent / value)
        _layer(config, project, source=str(path))
    if overrides:
        clean = {
            section: {k: v for k, v in values.items() if v is not None}
            for section, values in overrides.items()
        }
        _layer(config, clean, source="command line")
    try:
        return validated(config, layer=config, source=None)
    except InputError as exc:  # say which file the value may have come from
        raise exc.located(source=str(path) if path else None) from None


def _layer(config: dict[str, Any], extra: dict[str, Any], *, source: str) -> None:
    """Merge `extra` into `config`, refusing (as from `source`) keys and types it lacks."""
    _merge(config, extra)
    validated(config, layer=extra, source=source, types_only=True)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _merge(base[key], value)
        else:
            base[key] = value


def cache_dir(settings: Settings) -> Path:
    """Where generated cues are kept: ``cache.dir``, else ``$SCOREFLOW_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/scoreflow`` (``~/.cache/scoreflow``)."""
    chosen = settings.cache.dir or os.environ.get("SCOREFLOW_CACHE_DIR")
    if not chosen:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        chosen = str(Path(base) / "scoreflow")
    return Path(chosen).expanduser()
