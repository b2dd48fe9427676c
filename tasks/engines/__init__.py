"""Text-to-music backends behind one interface, built from config by name (`REGISTRY`).

Every backend looks like this (shaped like audiocraft's models, `base.MusicBackend`)::

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

import importlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scoreflow.tasks.errors import InputError

if TYPE_CHECKING:  # `base` brings numpy and scipy: the CLI reads `BACKENDS` on every start
    from scoreflow.config.settings import Settings
    from scoreflow.tasks.engines.base import MusicBackend

__all__ = ["BACKENDS", "REGISTRY", "EngineSpec", "get_backend"]


@dataclass(frozen=True)
class EngineSpec:
    """One engine: its name (``pipeline.backend``), the class that builds it from config
    (``module:Class``, imported only when chosen) and a one-line summary for the docs."""

    name: str
    target: str
    summary: str

    def load(self) -> Any:
        """The engine's class (it has ``from_config(settings)``)."""
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


_E = "scoreflow.tasks.engines"
REGISTRY: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("composer", f"{_E}.composer:Composer",
                   "the embedded composer: plan, MIDI parts and a SoundFont; offline, no GPU"),
        EngineSpec("musicgen", f"{_E}.musicgen:MusicGen",
                   "MusicGen through transformers (weights CC-BY-NC: non-commercial)"),
        EngineSpec("audiocraft", f"{_E}.audiocraft:AudiocraftMusicGen",
                   "MusicGen through audiocraft's own API, in its own environment"),
        EngineSpec("stable-audio", f"{_E}.stable_audio:StableAudio",
                   "Stable Audio Open through diffusers: stereo latent diffusion"),
        EngineSpec("ace-step", f"{_E}.ace_step:AceStep",
                   "ACE-Step 1.5 through diffusers; can re-perform the composer's cue"),
    )
}  # fmt: skip
BACKENDS = tuple(REGISTRY)

_BUILT: dict[str, MusicBackend] = {}


def _settings_key(settings: Settings) -> str:
    """What a built backend depends on: the backend, model and sample rate, the backend's
    table (``[musicgen]`` for audiocraft), the composer's where it plays (and its
    vocabulary, which may change under us); not the seed, takes or runner."""
    pipeline, name = settings.pipeline, settings.pipeline.backend
    dump = settings.model_dump()
    guided = name == "ace-step" and settings.ace_step.guide == "composer"
    tables = ("musicgen" if name == "audiocraft" else name, "composer" if guided else "")
    parts: dict[str, object] = {k: dump[k] for k in tables if k in dump}
    parts["pipeline"] = {"backend": name, "model": pipeline.model,
                         "sample_rate": pipeline.sample_rate}  # fmt: skip
    if "composer" in parts:
        from scoreflow import config as shipped

        parts["styles"] = shipped.styles_digest(settings.composer.styles)
    return json.dumps(parts, sort_keys=True, default=str)


def get_backend(settings: Settings) -> MusicBackend:
    """The backend named in ``settings.pipeline.backend``, built once per process for the
    same settings (a neural model is loaded once, not once per cue)."""
    name = settings.pipeline.backend
    key = _settings_key(settings)
    if key in _BUILT:
        return _BUILT[key]
    if name not in REGISTRY:
        fix = f"Use one of {', '.join(BACKENDS)}"
        raise InputError("unknown backend", field="pipeline.backend", value=name, fix=fix)
    backend: MusicBackend = REGISTRY[name].load().from_config(settings)
    _BUILT[key] = backend
    return backend
