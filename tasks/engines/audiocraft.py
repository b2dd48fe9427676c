"""MusicGen through audiocraft's own API (``audiocraft.models.MusicGen``).

audiocraft pins torch 2.1, so it cannot share an environment with the pinned torch 2.13:
it is an optional install in its own environment (``pip install audiocraft``). When it is
not importable, choosing this backend is a clear error that says so and points at
``--backend musicgen`` (the same models through transformers). It reads the ``[musicgen]``
settings; audiocraft extends cues past the model's window itself (``extend_stride``).
"""

from __future__ import annotations

from typing import Any

from scoreflow.tasks.engines import settings_for
from scoreflow.tasks.engines.musicgen import (
    DEFAULT_MODEL,
    LICENCE,
    generate_in_batches,
    resolve_device,
)
from scoreflow.tasks.errors import InputError
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


class AudiocraftMusicGen:
    """audiocraft's MusicGen behind the scoreflow backend interface."""

    name = "audiocraft"
    version = "1"
    batched = True  # the flow gathers concurrent cues into batched calls
    commercial_use = False
    licence = LICENCE

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        sample_rate: int = 48000,
        device: str = "auto",
        guidance_scale: float = 3.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 1.0,
        window_s: float = 30.0,
        stride_s: float = 20.0,
        max_batch: int = 8,
        raw_prompt: bool = False,
    ) -> None:
        self._cls = _audiocraft()
        self.model_id = model or DEFAULT_MODEL
        self.model = self.model_id
        self.sample_rate = sample_rate
        self.device = resolve_device(device)
        self.params = {
            "use_sampling": True,
            "top_k": top_k,
            "top_p": 0.0 if top_p >= 1 else top_p,  # audiocraft: 0 = off
            "temperature": temperature,
            "cfg_coef": guidance_scale,
            "extend_stride": stride_s,
        }
        self.max_seconds = window_s
        self.max_batch, self.raw_prompt = max_batch, raw_prompt
        self._model: Any = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> AudiocraftMusicGen:
        return cls(**settings_for(cls, cfg, "musicgen"))

    def load(self) -> None:
        if self._model is None:
            try:
                self._model = self._cls.get_pretrained(self.model_id, device=self.device)
            except (OSError, ValueError, RuntimeError) as exc:
                raise InputError(
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

        return generate_in_batches(
            self,
            briefs,
            seconds,
            seed=seed,
            model_rate=int(self._model.sample_rate),
            run=run,
            metrics={"model_id": self.model_id, "device": self.device},
        )
