"""Stable Audio Open through diffusers' `StableAudioPipeline` (latent diffusion, stereo).

The pipeline (``stabilityai/stable-audio-open-1.0`` from the local Hugging Face cache, or a
folder) is loaded offline unless ``stable-audio.allow_download`` is set. One call makes up
to the model's window (about 47 s); a longer cue is built from consecutive windows joined
with equal-power crossfades of ``overlap_s`` and then fitted by the align stage like any cue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoreflow.tasks.audio.align import fade
from scoreflow.tasks.engines.base import DiffusersEngine
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief, Cue

DEFAULT_MODEL = "stabilityai/stable-audio-open-1.0"
LICENCE = (
    "Stable Audio Open weights: Stability AI Community License "
    "(restricted commercial use: free below USD 1M annual revenue, else an enterprise licence)"
)


def crossfade_join(parts: list[np.ndarray], overlap: int) -> np.ndarray:
    """Join (channels, samples) parts, each overlapping the next by `overlap` samples with
    an equal-power crossfade."""
    out = parts[0]
    fade_in, fade_out = fade(overlap, fade_in=True), fade(overlap, fade_in=False)
    for part in parts[1:]:
        mixed = out[:, -overlap:] * fade_out + part[:, :overlap] * fade_in
        out = np.concatenate([out[:, :-overlap], mixed, part[:, overlap:]], axis=1)
    return out


@dataclass(kw_only=True, eq=False)
class StableAudio(DiffusersEngine):
    """Stable Audio Open behind the scoreflow backend interface."""

    name = "stable-audio"
    section = "stable-audio"
    default_model = DEFAULT_MODEL
    licence = LICENCE
    label = "Stable Audio"
    download_fix = (
        "Download it once with `hf download {model}` (accept its licence first), "
        "set stable-audio.allow_download = true, or give a local folder"
    )
    pipeline = "StableAudioPipeline"
    needs = "diffusers (and torchsde)"

    steps: int = 100
    guidance_scale: float = 7.0
    negative_prompt: str = ""
    window_s: float = 47.0
    overlap_s: float = 2.0
    max_batch: int = 4

    def _check(self) -> None:
        if self.steps < 1 or not 0 < self.overlap_s < self.window_s / 2:
            raise InputError(
                "need steps >= 1 and 0 < overlap_s < window_s / 2",
                field="stable-audio",
                value={"steps": self.steps, "overlap_s": self.overlap_s,
                       "window_s": self.window_s},
            )  # fmt: skip

    def _loaded(self) -> None:
        vae = self._pipe.vae
        longest = self._pipe.transformer.config.sample_size * vae.hop_length / vae.sampling_rate
        self.max_seconds = min(self.window_s, longest)

    def metrics(self) -> dict[str, Any]:
        return {**super().metrics(), "steps": self.steps}

    def _call(self, texts: list[str], seconds: float, seed: int) -> np.ndarray:
        """(len(texts), 2, samples) at the VAE's rate, `seconds` long."""
        negative = [self.negative_prompt] * len(texts) if self.negative_prompt else None
        return self.seeded_call(
            texts, seed, negative_prompt=negative, num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale, audio_end_in_s=seconds,
        )  # fmt: skip

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

        return self.generate_in_batches(
            briefs, seconds, seed=seed, model_rate=rate, run=run,
            metrics={**self.metrics(), "model_sample_rate": rate},
        )  # fmt: skip
