"""The settings a flow or a command runs with, as the typed `Settings`: a project file (an
``s3://`` one fetched first) with the command line's flags over it, or an earlier run's
settings (its manifest's) with new flags over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scoreflow import config
from scoreflow.config.settings import Settings
from scoreflow.tasks.cloud.storage import fetch, is_remote, work_dir

#: the command line's flags, nested like the TOML (``{"pipeline": {"seed": 3}}``); None
#: values are flags not given
Flags = dict[str, dict[str, Any]]


def load(config_file: str | Path | None = None, flags: Flags | None = None) -> Settings:
    """The defaults, then the project file `config_file` (a path or an ``s3://`` URI,
    fetched to the work folder first), then `flags`, validated (`config.load_settings`)."""
    path = config_file
    if path is not None and is_remote(path):
        path = fetch(str(path), work_dir(), what="config")
    return config.load_settings(path, flags)


def of_run(config_file: str | None, earlier: Settings | None, flags: Flags) -> Settings:
    """A run's settings: `config_file`'s (else the defaults), or an `earlier` run's whole
    settings, with the command line's `flags` over them."""
    if earlier is None:
        return load(config_file, flags)
    return config.layered(earlier, flags)
