"""Text-to-music backends behind one interface, built from config by name.

Every backend looks like this (shaped like audiocraft's models)::

    backend.sample_rate      # Hz of the audio it returns
    backend.max_seconds      # longest cue it makes in one go
    backend.licence          # licence of its output / weights
    backend.commercial_use   # False when the weights restrict commercial use (CLI warns)
    backend.generate(briefs, seconds=[...], seed=0) -> list[Cue]   # batched

The composer gives cue ``i`` of a batch seed ``seed + i``, so a batch of one with seed ``s``
and item ``i`` of a batch with seed ``s - i`` are the same piece. Neural backends sample a
whole batch from one generator (seeded with ``seed`` plus the batch's first index): a run is
reproducible for the same briefs and lengths, and a cue generated alone depends on its own
seed only, which is how the flow calls them.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Protocol

import numpy as np

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief, Cue


class MusicBackend(Protocol):
    name: str
    model: str
    version: str
    sample_rate: int
    max_seconds: float
    licence: str
    commercial_use: bool  # may the output be used commercially without further licensing
    batched: bool  # True: concurrent single-cue calls should be gathered (batching.py)

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        """One cue per brief, each `seconds[i]` long (the body; a tail may follow)."""
        ...


HEADROOM = 0.89  # every backend's cues peak at most here (-1 dBFS): the mix sets the level


def within_headroom(audio: np.ndarray) -> np.ndarray:
    """`audio` scaled down so its sample peak is at most `HEADROOM` (unchanged if it is)."""
    peak = float(np.abs(audio).max())
    return audio * (HEADROOM / peak) if peak > HEADROOM else audio


BACKENDS = ("composer", "musicgen", "audiocraft", "stable-audio", "ace-step")


def settings_for(cls: type, cfg: dict[str, Any], section: str) -> dict[str, Any]:
    """Keyword arguments for ``cls(...)``: the model and sample rate from ``[pipeline]``,
    then every key of ``[section]`` that `cls` takes."""
    params = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in cfg[section].items() if k in params}
    return {
        "model": cfg["pipeline"]["model"],
        "sample_rate": cfg["pipeline"]["sample_rate"],
        **kwargs,
    }


def check_pipeline_present(backend: Any) -> None:
    """Read a diffusers model's index only (cheap): proves the model is there, offline
    unless downloads are allowed; a missing one is the backend's ``_missing`` error."""
    try:
        backend._cls.load_config(backend.model_id, local_files_only=not backend.allow_download)
    except (OSError, ValueError) as exc:
        raise backend._missing(exc) from None


def load_pipeline(backend: Any) -> Any:
    """The diffusers pipeline of a neural `backend` (its ``_cls``, ``model_id``,
    ``allow_download``, ``dtype``, ``device`` and ``_missing`` error): offline unless
    downloads are allowed, progress bars off, on its device."""
    try:
        pipe = backend._cls.from_pretrained(
            backend.model_id, local_files_only=not backend.allow_download, dtype=backend.dtype
        )
    except (OSError, ValueError) as exc:
        raise backend._missing(exc) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(backend.device)


_BUILT: dict[str, MusicBackend] = {}


def get_backend(config: dict[str, Any]) -> MusicBackend:
    """The backend named in ``config["pipeline"]["backend"]``, built once per process for
    the same settings (a neural model is loaded once, not once per cue)."""
    name = config["pipeline"]["backend"]
    settings = {k: v for k, v in config.items() if k in ("pipeline", name, "musicgen")}
    if name == "ace-step" and config[name].get("guide") == "composer":
        settings["composer"] = config["composer"]
    if "composer" in settings or name == "composer":  # its vocabulary may change under us
        from scoreflow import config as shipped

        settings["styles"] = shipped.styles_digest(config["composer"].get("styles", ""))
    key = json.dumps(settings, sort_keys=True, default=str)
    if key in _BUILT:
        return _BUILT[key]
    backend: MusicBackend
    if name == "composer":
        from scoreflow.tasks.engines.composer import Composer

        backend = Composer.from_config(config)
    elif name == "musicgen":
        from scoreflow.tasks.engines.musicgen import MusicGen

        backend = MusicGen.from_config(config)
    elif name == "audiocraft":
        from scoreflow.tasks.engines.audiocraft import AudiocraftMusicGen

        backend = AudiocraftMusicGen.from_config(config)
    elif name == "stable-audio":
        from scoreflow.tasks.engines.stable_audio import StableAudio

        backend = StableAudio.from_config(config)
    elif name == "ace-step":
        from scoreflow.tasks.engines.ace_step import AceStep

        backend = AceStep.from_config(config)
    else:
        raise InputError(
            "unknown backend",
            field="pipeline.backend",
            value=name,
            fix=f"Use one of {', '.join(BACKENDS)}",
        )
    _BUILT[key] = backend
    return backend
