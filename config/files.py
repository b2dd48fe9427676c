"""The TOML files shipped in config/: read once, handed out as fresh copies."""

from __future__ import annotations

import copy
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from scoreflow.tasks.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a TOML file; an `InputError` naming it when it cannot be read."""
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
def shipped(name: str) -> dict[str, Any]:
    """A file of config/, read once (callers copy it before changing anything)."""
    return read_toml(CONFIG_DIR / name)


def defaults() -> dict[str, Any]:
    """A fresh copy of config/defaults.toml."""
    return copy.deepcopy(shipped("defaults.toml"))


def loudness_presets() -> dict[str, Any]:
    """Delivery presets from config/loudness.toml, by name."""
    return copy.deepcopy(shipped("loudness.toml"))
