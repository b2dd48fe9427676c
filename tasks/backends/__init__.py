"""Text-to-music backends behind one interface, built from config by name.

Every backend looks like this (shaped like audiocraft's models)::

    backend.sample_rate      # Hz of the audio it returns
    backend.max_seconds      # longest cue it makes in one go
    backend.licence          # licence of its output / weights
    backend.generate(briefs, seconds=[...], seed=0) -> list[Cue]   # batched

Cue ``i`` of a batch uses seed ``seed + i``, so a batch of one with seed ``s`` and item ``i``
of a batch with seed ``s - i`` are the same piece.
"""

from __future__ import annotations

from typing import Any, Protocol

from tasks.errors import InputError
from tasks.model import Brief, Cue


class MusicBackend(Protocol):
    name: str
    model: str
    version: str
    sample_rate: int
    max_seconds: float
    licence: str

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        """One cue per brief, each `seconds[i]` long (the body; a tail may follow)."""
        ...


BACKENDS = ("composer",)
PLANNED = ("musicgen", "audiocraft", "stable-audio")


def get_backend(config: dict[str, Any]) -> MusicBackend:
    """Build the backend named in ``config["pipeline"]["backend"]``."""
    name = config["pipeline"]["backend"]
    if name == "composer":
        from tasks.backends.composer import Composer

        return Composer.from_config(config)
    hint = (
        f"{name!r} is planned but not built yet"
        if name in PLANNED
        else f"Use one of {', '.join(BACKENDS)}"
    )
    raise InputError("unknown backend", field="pipeline.backend", value=name, fix=hint)
