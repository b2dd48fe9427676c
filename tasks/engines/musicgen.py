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
import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
from scipy import signal

from scoreflow.tasks.engines import settings_for, within_headroom
from scoreflow.tasks.errors import BackendError, InputError
from scoreflow.tasks.timeline.model import Brief, Cue

DEFAULT_MODEL = "facebook/musicgen-small"
LICENCE = "MusicGen weights: CC-BY-NC 4.0 (non-commercial use only)"
TAIL_S = 1.0  # generated past the cut, for crossfades into a touching scene
SEAM_S = 0.25  # crossfade where a continuation window meets the audio before it
T = TypeVar("T")


def _torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise InputError(
            "the musicgen backend needs torch and transformers",
            field="pipeline.backend",
            value="musicgen",
            fix="pip install 'scoreflow[neural]' (torch 2.13 CPU build, transformers 5)",
        ) from None
    return torch


def resolve_device(name: str) -> str:
    """``auto`` -> cuda, mps or cpu, whichever is there; an explicit device must exist."""
    torch = _torch()
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if name == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    if name not in available:
        raise InputError(
            "unknown device", field="musicgen.device", value=name, fix="auto, cuda, mps or cpu"
        )
    if not available[name]:
        raise InputError(
            f"no {name} device on this machine",
            field="musicgen.device",
            value=name,
            fix="Set musicgen.device = 'auto' or 'cpu', or run where the GPU is",
        )
    return name


def resolve_dtype(name: str, device: str) -> Any:
    """``auto`` -> float16 on CUDA, float32 elsewhere; float16 is refused on the CPU."""
    torch = _torch()
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if name == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    if name not in dtypes:
        raise InputError(
            "unknown dtype", field="musicgen.dtype", value=name, fix="auto, fp32, fp16 or bf16"
        )
    if name == "fp16" and device == "cpu":
        raise InputError(
            "fp16 is not supported on the CPU",
            field="musicgen.dtype",
            value=name,
            fix="Use fp32 or bf16 on the CPU, fp16 on a GPU",
        )
    return dtypes[name]


def prompt_text(brief: Brief, *, raw: bool = False) -> str:
    """The text the model is given: the brief in words, or the raw description if asked."""
    if raw and brief.prompt.strip():
        return brief.prompt.strip()
    energy = {"rises": "building", "falls": "fading", "swells": "swelling"}.get(brief.curve)
    words = [
        f"{brief.mood} {brief.genre} music",
        ", ".join(brief.instruments),
        f"{round(brief.tempo_bpm)} bpm",
        f"{brief.key} {brief.mode}",
        "" if brief.drums else "no drums",
        energy or "",
    ]
    return ", ".join(w for w in words if w)


def split_on_oom(run: Callable[[list[T]], list[Any]], items: list[T]) -> list[Any]:
    """``run(items)``; when it runs out of memory, run each half on its own, recursively."""
    torch = _torch()
    try:
        return run(items)
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in str(exc):
            raise
        if len(items) == 1:
            raise BackendError(
                "out of memory generating a single cue: use a smaller model, "
                "musicgen.dtype = 'fp16' or 'bf16', a shorter musicgen.window_s, or the CPU"
            ) from None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(items) // 2
        return split_on_oom(run, items[:half]) + split_on_oom(run, items[half:])


def batches(seconds: Sequence[float], *, max_batch: int, spread: float = 1.5) -> list[list[int]]:
    """Indices grouped for batched generation: by length, at most `max_batch` a batch, the
    longest in a batch at most `spread` times its shortest (each is trimmed to its own)."""
    groups: list[list[int]] = []
    for i in sorted(range(len(seconds)), key=lambda i: seconds[i]):
        g = groups[-1] if groups else None
        if g and len(g) < max_batch and seconds[i] <= spread * seconds[g[0]]:
            g.append(i)
        else:
            groups.append([i])
    return groups


def to_cue(
    audio: np.ndarray,
    brief: Brief,
    *,
    backend: Any,
    model_rate: int,
    seconds: float,
    prompt: str,
    seed: int,
    metrics: dict[str, Any],
) -> Cue:
    """A cue from generated audio (shape (samples,) mono or (channels, samples)) at
    `model_rate`: resampled to the backend's rate, cut to `seconds` plus a `TAIL_S` tail,
    stereo, peak at most -1 dBFS."""
    ratio = Fraction(backend.sample_rate, model_rate)
    audio = np.atleast_2d(audio)
    audio = signal.resample_poly(audio, ratio.numerator, ratio.denominator, axis=-1)
    body, tail = round(seconds * backend.sample_rate), round(TAIL_S * backend.sample_rate)
    audio = np.pad(audio, ((0, 0), (0, max(0, body + tail - audio.shape[1]))))[:, : body + tail]
    audio = within_headroom(audio)
    stereo = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio[:2]
    stereo = stereo.astype(np.float32)
    return Cue(
        scene_id=brief.scene_id,
        audio=stereo[:, :body],
        tail=stereo[:, body:],
        sample_rate=backend.sample_rate,
        backend=backend.name,
        model=os.path.basename(backend.model_id.rstrip("/")) or backend.model_id,
        prompt=prompt,
        seed=seed,
        licence=backend.licence,
        bpm=brief.tempo_bpm,
        key=f"{brief.key} {brief.mode}",
        metrics=metrics,
    )


def generate_in_batches(
    backend: Any,
    briefs: list[Brief],
    seconds: list[float],
    *,
    seed: int,
    model_rate: int,
    run: Callable[[list[str], float, int], tuple[np.ndarray, dict[str, Any]]],
    metrics: dict[str, Any],
) -> list[Cue]:
    """The body of every neural backend's `generate`.

    Checks the lengths, turns the briefs into prompts, groups the cues by length
    (`batches`), and for each group calls ``run(texts, seconds, batch_seed)``, where
    `seconds` is the group's longest cue plus `TAIL_S` and `batch_seed` is `seed` plus the
    group's first index; a group that runs out of memory is split (`split_on_oom`). `run`
    returns the audio (one row per text, at `model_rate`) and its own metrics. Every cue
    gets `metrics`, the run's metrics, ``batch`` and ``cues_in_call``.
    """
    if len(briefs) != len(seconds):
        raise ValueError(f"{len(briefs)} briefs but {len(seconds)} lengths")
    for brief, secs in zip(briefs, seconds, strict=True):
        if secs <= 0:
            raise InputError("cue length must be positive", scene=brief.scene_id, value=secs)
    texts = [prompt_text(b, raw=backend.raw_prompt) for b in briefs]
    results: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}

    def one(indices: list[int]) -> list[tuple[np.ndarray, dict[str, Any]]]:
        longest = max(seconds[i] for i in indices) + TAIL_S
        audio, extra = run([texts[i] for i in indices], longest, seed + indices[0])
        return [(a, {**extra, "batch": len(indices)}) for a in audio]

    for group in batches(seconds, max_batch=backend.max_batch):
        for i, result in zip(group, split_on_oom(one, group), strict=True):
            results[i] = result
    return [
        to_cue(
            results[i][0],
            brief,
            backend=backend,
            model_rate=model_rate,
            seconds=secs,
            prompt=texts[i],
            seed=seed,
            metrics={**metrics, **results[i][1], "cues_in_call": len(briefs)},
        )
        for i, (brief, secs) in enumerate(zip(briefs, seconds, strict=True))
    ]


class MusicGen:
    """MusicGen (transformers) behind the scoreflow backend interface."""

    name = "musicgen"
    version = "1"
    batched = True  # the flow gathers concurrent cues into batched calls
    commercial_use = False

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        sample_rate: int = 48000,
        device: str = "auto",
        dtype: str = "auto",
        guidance_scale: float = 3.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 1.0,
        window_s: float = 30.0,
        stride_s: float = 20.0,
        max_batch: int = 8,
        allow_download: bool = False,
        raw_prompt: bool = False,
        static_cache: bool = False,
    ) -> None:
        if not 0 < stride_s < window_s:
            raise InputError(
                "need 0 < stride_s < window_s",
                field="musicgen.stride_s",
                value=stride_s,
                fix=f"A stride below the window ({window_s} s), e.g. {window_s * 2 / 3:g}",
            )
        self.model_id = model or DEFAULT_MODEL
        self.model = self.model_id
        self.sample_rate = sample_rate
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if not 0 < top_p <= 1 or temperature <= 0 or top_k < 0 or guidance_scale < 0:
            raise InputError(
                "sampling settings out of range",
                field="musicgen",
                value={"top_p": top_p, "temperature": temperature, "top_k": top_k},
                fix="0 < top_p <= 1 (1 = off), temperature > 0, top_k >= 0 (0 = off), "
                "guidance_scale >= 0",
            )
        self.sampling: dict[str, Any] = {
            "do_sample": True,
            "guidance_scale": guidance_scale,
            "temperature": temperature,
            "top_k": top_k,
        }
        if top_p < 1:
            self.sampling["top_p"] = top_p
        if static_cache:
            self.sampling["cache_implementation"] = "static"
        self.window_s, self.stride_s, self.max_batch = window_s, stride_s, max_batch
        self.max_seconds = window_s
        self.allow_download, self.raw_prompt = allow_download, raw_prompt
        self.licence = LICENCE
        self._config = self._load_config()
        self._model: Any = None
        self._processor: Any = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> MusicGen:
        return cls(**settings_for(cls, cfg, "musicgen"))

    def _missing(self, exc: Exception) -> InputError:
        how = (
            f"Download it once with `hf download {self.model_id}` (or set "
            "musicgen.allow_download = true), or set pipeline.model to a local folder"
        )
        return InputError(
            f"MusicGen model not found locally ({type(exc).__name__})",
            field="pipeline.model",
            value=self.model_id,
            fix=how,
        )

    def _load_config(self) -> Any:
        """The model's config only (no weights): proves the model is there, cheaply."""
        _torch()
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(
                self.model_id, local_files_only=not self.allow_download
            )
        except (OSError, ValueError) as exc:
            raise self._missing(exc) from None

    def load(self) -> None:
        """Load weights and processor onto the device (once)."""
        if self._model is not None:
            return
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        local = not self.allow_download
        try:
            self._processor = AutoProcessor.from_pretrained(self.model_id, local_files_only=local)
            model: Any = MusicgenForConditionalGeneration.from_pretrained(
                self.model_id, local_files_only=local, dtype=self.dtype
            )
        except (OSError, ValueError) as exc:
            raise self._missing(exc) from None
        self._model = model.to(self.device).eval()

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
        torch = _torch()
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
        torch = _torch()

        def run(
            texts: list[str], longest: float, batch_seed: int
        ) -> tuple[np.ndarray, dict[str, Any]]:
            torch.manual_seed(batch_seed)
            audio, windows = self._generate(texts, longest)
            return audio, {"windows": windows}

        return generate_in_batches(
            self,
            briefs,
            seconds,
            seed=seed,
            model_rate=self.model_rate,
            run=run,
            metrics={
                "model_id": self.model_id,
                "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."),
                "model_sample_rate": self.model_rate,
            },
        )
