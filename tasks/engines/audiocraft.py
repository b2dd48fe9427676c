"""MusicGen through audiocraft's own API (``audiocraft.models.MusicGen``).

audiocraft pins torch 2.1, so it cannot share an environment with the pinned torch 2.13:
it is an optional install in its own environment (``pip install audiocraft``). When it is
not importable, choosing this backend is a clear error that says so and points at
``--backend musicgen`` (the same models through transformers). It reads the ``[musicgen]``
settings; audiocraft extends cues past the model's window itself (``extend_stride``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoreflow.tasks.engines.musicgen import MusicGenSettings
from scoreflow.tasks.errors import InputError, MissingModelError
from scoreflow.tasks.timeline.model import Brief, Cue


def _audiocraft() -> Any:
    try:
        from audiocraft.models import MusicGen
    except ImportError as exc:
        raise InputError(
            f"audiocraft is not importable here ({exc})",
            field="pipeline.backend",
            value="audiocraft",
            fix="audiocraft pins torch 2.1: install it in its own environment "
            "(pip install 'scoreflow[audiocraft]'), or use --backend musicgen, "
            "the same models through transformers",
        ) from None
    return MusicGen


@dataclass(kw_only=True, eq=False)
class AudiocraftMusicGen(MusicGenSettings):
    """audiocraft's MusicGen behind the scoreflow backend interface."""

    name = "audiocraft"

    def __post_init__(self) -> None:
        self._cls = _audiocraft()
        super().__post_init__()

    def _setup(self) -> None:
        self.params = {
            "use_sampling": True,
            "top_k": self.top_k,
            "top_p": 0.0 if self.top_p >= 1 else self.top_p,  # audiocraft: 0 = off
            "temperature": self.temperature,
            "cfg_coef": self.guidance_scale,
            "extend_stride": self.stride_s,
        }
        self._model: Any = None

    def load(self) -> None:
        if self._model is None:
            try:
                self._model = self._cls.get_pretrained(self.model_id, device=self.device)
            except (OSError, ValueError, RuntimeError) as exc:
                raise MissingModelError(
                    f"audiocraft could not load the model ({exc})",
                    field="pipeline.model",
                    value=self.model_id,
                    fix="Give a MusicGen id audiocraft knows, or a local checkpoint folder",
                ) from None

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        """One cue per brief, batched by length (see `MusicGen.generate`)."""
        import torch

        self.load()

        def run(texts: list[str], duration: float, batch_seed: int) -> tuple[Any, dict[str, Any]]:
            torch.manual_seed(batch_seed)
            self._model.set_generation_params(duration=duration, **self.params)
            return self._model.generate(texts).float().cpu().numpy(), {}

        return self.generate_in_batches(
            briefs, seconds, seed=seed, model_rate=int(self._model.sample_rate), run=run,
            metrics=self.metrics(),
        )  # fmt: skip
