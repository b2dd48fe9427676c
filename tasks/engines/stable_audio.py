"""Stable Audio Open through diffusers' `StableAudioPipeline` (latent diffusion, stereo).

The pipeline (``stabilityai/stable-audio-open-1.0`` from the local Hugging Face cache, or a
folder) is loaded offline unless ``stable-audio.allow_download`` is set. One call makes up
to the model's window (about 47 s); a longer cue is built from consecutive windows joined
with equal-power crossfades of ``overlap_s`` and then fitted by the align stage like any cue.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scoreflow.tasks.audio.align import fade
from scoreflow.tasks.engines import check_pipeline_present, load_pipeline, settings_for
from scoreflow.tasks.engines.musicgen import generate_in_batches, resolve_device, resolve_dtype
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief, Cue

DEFAULT_MODEL = "stabilityai/stable-audio-open-1.0"
LICENCE = (
    "Stable Audio Open weights: Stability AI Community License "
    "(restricted commercial use: free below USD 1M annual revenue, else an enterprise licence)"
)


def _pipeline_class() -> Any:
    try:
        from diffusers import StableAudioPipeline
    except ImportError:
        raise InputError(
            "the stable-audio backend needs diffusers (and torchsde)",
            field="pipeline.backend",
            value="stable-audio",
            fix="pip install 'scoreflow[neural]'",
        ) from None
    return StableAudioPipeline


def crossfade_join(parts: list[np.ndarray], overlap: int) -> np.ndarray:
    """Join (channels, samples) parts, each overlapping the next by `overlap` samples with
    an equal-power crossfade."""
    out = parts[0]
    fade_in, fade_out = fade(overlap, fade_in=True), fade(overlap, fade_in=False)
    for part in parts[1:]:
        mixed = out[:, -overlap:] * fade_out + part[:, :overlap] * fade_in
        out = np.concatenate([out[:, :-overlap], mixed, part[:, overlap:]], axis=1)
    return out


class StableAudio:
    """Stable Audio Open behind the scoreflow backend interface."""

    name = "stable-audio"
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
        dtype: str = "auto",
        steps: int = 100,
        guidance_scale: float = 7.0,
        negative_prompt: str = "",
        window_s: float = 47.0,
        overlap_s: float = 2.0,
        max_batch: int = 4,
        allow_download: bool = False,
        raw_prompt: bool = False,
    ) -> None:
        self._cls = _pipeline_class()
        if steps < 1 or not 0 < overlap_s < window_s / 2:
            raise InputError(
                "need steps >= 1 and 0 < overlap_s < window_s / 2",
                field="stable-audio",
                value={"steps": steps, "overlap_s": overlap_s, "window_s": window_s},
            )
        self.model_id = model or DEFAULT_MODEL
        self.model = self.model_id
        self.sample_rate = sample_rate
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.steps, self.guidance_scale = steps, guidance_scale
        self.negative_prompt = negative_prompt
        self.window_s, self.overlap_s = window_s, overlap_s
        self.max_seconds = window_s
        self.max_batch, self.allow_download, self.raw_prompt = max_batch, allow_download, raw_prompt
        check_pipeline_present(self)
        self._pipe: Any = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> StableAudio:
        return cls(**settings_for(cls, cfg, "stable-audio"))

    def _missing(self, exc: Exception) -> InputError:
        return InputError(
            f"Stable Audio model not found locally ({type(exc).__name__})",
            field="pipeline.model",
            value=self.model_id,
            fix=f"Download it once with `hf download {self.model_id}` (accept its "
            "licence first), set stable-audio.allow_download = true, or give a local folder",
        )

    def load(self) -> None:
        if self._pipe is not None:
            return
        self._pipe = load_pipeline(self)
        vae = self._pipe.vae
        longest = self._pipe.transformer.config.sample_size * vae.hop_length / vae.sampling_rate
        self.max_seconds = min(self.window_s, longest)

    def _call(self, texts: list[str], seconds: float, seed: int) -> np.ndarray:
        """(len(texts), 2, samples) at the VAE's rate, `seconds` long."""
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)
        out = self._pipe(
            texts,
            negative_prompt=[self.negative_prompt] * len(texts) if self.negative_prompt else None,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale,
            audio_end_in_s=seconds,
            generator=generator,
        ).audios
        return out.float().cpu().numpy()

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        """One cue per brief, batched by length; a cue longer than the window is made of
        windows (each seeded on from the batch seed) joined with crossfades."""
        self.load()
        rate = int(self._pipe.vae.sampling_rate)
        window, overlap = self.max_seconds, self.overlap_s

        def run(
            texts: list[str], total: float, batch_seed: int
        ) -> tuple[np.ndarray, dict[str, Any]]:
            n = 1 if total <= window else math.ceil((total - overlap) / (window - overlap))
            length = total if n == 1 else window
            parts = [self._call(texts, length, batch_seed + 1000 * k) for k in range(n)]
            joined = [
                crossfade_join([p[j] for p in parts], round(overlap * rate))
                for j in range(len(texts))
            ]
            return np.stack(joined), {"windows": n}

        return generate_in_batches(
            self,
            briefs,
            seconds,
            seed=seed,
            model_rate=rate,
            run=run,
            metrics={
                "model_id": self.model_id,
                "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."),
                "steps": self.steps,
                "model_sample_rate": rate,
            },
        )
