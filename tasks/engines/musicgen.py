"""MusicGen through transformers: text -> EnCodec tokens -> audio.

The model (an id such as ``facebook/musicgen-small`` resolved from the local Hugging Face
cache, or a folder) is loaded with `MusicgenForConditionalGeneration` and its processor,
offline unless ``musicgen.allow_download`` is set. Lengths are exact: a cue of ``s`` seconds
needs ``s * frame_rate + (codebooks - 1)`` new tokens (the delay pattern eats
``codebooks - 1`` frames). Cues longer than the model's window are continued window by window:
the last ``window_s - stride_s`` seconds are fed back as an audio prompt and ``stride_s``
new seconds are kept, with a short crossfade where the re-decoded prompt meets them.
A batch that runs out of memory is split in halves and retried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoreflow.tasks.engines.base import NeuralEngine, PretrainedEngine, torch_module
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief, Cue

DEFAULT_MODEL = "facebook/musicgen-small"
LICENCE = "MusicGen weights: CC-BY-NC 4.0 (non-commercial use only)"
SEAM_S = 0.25  # crossfade where a continuation window meets the audio before it


def check_window(*, window_s: float, stride_s: float) -> None:
    """A continuation window keeps ``window_s - stride_s`` seconds as its prompt."""
    if not 0 < stride_s < window_s:
        raise InputError(
            "need 0 < stride_s < window_s",
            field="musicgen.stride_s",
            value=stride_s,
            fix=f"A stride below the window ({window_s} s), e.g. {window_s * 2 / 3:g}",
        )


def sampling(
    *, guidance_scale: float, temperature: float, top_k: int, top_p: float
) -> dict[str, Any]:
    """transformers' sampling options (top_p only below 1, where it does something)."""
    if not 0 < top_p <= 1 or temperature <= 0 or top_k < 0 or guidance_scale < 0:
        raise InputError(
            "sampling settings out of range",
            field="musicgen",
            value={"top_p": top_p, "temperature": temperature, "top_k": top_k},
            fix="0 < top_p <= 1 (1 = off), temperature > 0, top_k >= 0 (0 = off), "
            "guidance_scale >= 0",
        )
    options: dict[str, Any] = {
        "do_sample": True,
        "guidance_scale": guidance_scale,
        "temperature": temperature,
        "top_k": top_k,
    }
    if top_p < 1:
        options["top_p"] = top_p
    return options


@dataclass(kw_only=True, eq=False)
class MusicGenSettings(NeuralEngine):
    """The ``[musicgen]`` settings both MusicGen engines (transformers, audiocraft) read."""

    section = "musicgen"
    default_model = DEFAULT_MODEL
    licence = LICENCE

    guidance_scale: float = 3.0
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 1.0
    stride_s: float = 20.0


@dataclass(kw_only=True, eq=False)
class MusicGen(PretrainedEngine, MusicGenSettings):
    """MusicGen (transformers) behind the scoreflow backend interface."""

    name = "musicgen"
    label = "MusicGen"
    download_fix = (
        "Download it once with `hf download {model}` (or set "
        "musicgen.allow_download = true), or set pipeline.model to a local folder"
    )

    static_cache: bool = False

    def _check(self) -> None:
        check_window(window_s=self.window_s, stride_s=self.stride_s)

    def _setup(self) -> None:
        self.sampling = sampling(
            guidance_scale=self.guidance_scale, temperature=self.temperature,
            top_k=self.top_k, top_p=self.top_p,
        )  # fmt: skip
        if self.static_cache:
            self.sampling["cache_implementation"] = "static"
        torch_module()
        from transformers import AutoConfig

        self._config = self.pretrained(AutoConfig.from_pretrained)  # proves it is there
        self._model: Any = None
        self._processor: Any = None

    def load(self) -> None:
        """Load weights and processor onto the device (once)."""
        if self._model is not None:
            return
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        self._processor = self.pretrained(AutoProcessor.from_pretrained)
        model: Any = self.pretrained(
            MusicgenForConditionalGeneration.from_pretrained, dtype=self.dtype
        )
        self._model = model.to(self.device).eval()

    def metrics(self) -> dict[str, Any]:
        return {**super().metrics(), "model_sample_rate": self.model_rate}

    @property
    def model_rate(self) -> int:
        return int(self._config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> int:
        return int(self._config.audio_encoder.frame_rate)

    def tokens_for(self, seconds: float) -> int:
        """New tokens for `seconds` of audio: frames plus the delay pattern's codebooks - 1."""
        return math.ceil(seconds * self.frame_rate) + self._model.decoder.num_codebooks - 1

    def _generate(self, texts: list[str], seconds: float) -> tuple[np.ndarray, int]:
        """Mono audio at the model's rate, shape (len(texts), seconds * rate), and the
        number of windows it took."""
        torch = torch_module()
        rate = self.model_rate
        want = round(seconds * rate)
        first = min(seconds, self.window_s)

        def call(max_new_tokens: int, **inputs: Any) -> np.ndarray:
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            if "input_values" in inputs:
                inputs["input_values"] = inputs["input_values"].to(self.dtype)
            with torch.inference_mode():
                out = self._model.generate(**inputs, max_new_tokens=max_new_tokens, **self.sampling)
            return out[:, 0].float().cpu().numpy()

        proc = self._processor
        audio = call(self.tokens_for(first), **proc(text=texts, padding=True, return_tensors="pt"))
        audio = audio[:, : round(first * rate)]
        seam = round(SEAM_S * rate)
        windows = 1
        while audio.shape[1] < want:
            windows += 1
            context = round((self.window_s - self.stride_s) * rate)
            new_s = min(self.stride_s, (want - audio.shape[1]) / rate)
            prompt = audio[:, -context:]
            inputs = proc(
                audio=list(prompt),
                text=texts,
                sampling_rate=rate,
                padding=True,
                return_tensors="pt",
            )
            out = call(self.tokens_for(new_s), **inputs)
            n = prompt.shape[1]
            fade = np.linspace(0.0, 1.0, seam, dtype=np.float32)
            audio[:, -seam:] = audio[:, -seam:] * (1 - fade) + out[:, n - seam : n] * fade
            audio = np.concatenate([audio, out[:, n : n + round(new_s * rate)]], axis=1)
        return audio[:, :want], windows

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        """One cue per brief, batched by length; each batch seeded with `seed` + its first
        index, so a run is reproducible for the same briefs and lengths."""
        self.load()
        torch = torch_module()

        def run(
            texts: list[str], longest: float, batch_seed: int
        ) -> tuple[np.ndarray, dict[str, Any]]:
            torch.manual_seed(batch_seed)
            audio, windows = self._generate(texts, longest)
            return audio, {"windows": windows}

        return self.generate_in_batches(
            briefs, seconds, seed=seed, model_rate=self.model_rate, run=run,
            metrics=self.metrics(),
        )  # fmt: skip
