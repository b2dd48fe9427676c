"""What every music engine shares, and the one base of the neural engines.

Every engine (the composer included) looks like `MusicBackend` and keeps its cues' peaks
at most `HEADROOM`. The neural engines are dataclasses on `NeuralEngine`: their settings
are their fields (so ``[section]`` of the config maps onto them, `from_config`), and the
base resolves the model, the device and the dtype, loads weights locally (offline unless
``allow_download``, `PretrainedEngine`), says how to get a missing model
(`MissingModelError`), reads the licence from the model card, and turns a batch of
briefs into cues (`NeuralEngine.generate_in_batches`): grouped by length, split when a
batch runs out of memory, resampled, cut and stereo. Each engine adds its own settings
and the call that makes audio.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
from scipy import signal

from scoreflow.config.settings import Settings, Table
from scoreflow.tasks.engines.batching import batches, split_on_oom
from scoreflow.tasks.errors import InputError, MissingModelError
from scoreflow.tasks.timeline.model import Brief, Cue

TAIL_S = 1.0  # generated past the cut, for crossfades into a touching scene
HEADROOM = 0.89  # every backend's cues peak at most here (-1 dBFS): the mix sets the level
# Licences (model-card identifiers) that allow commercial use of the output.
PERMISSIVE = {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc-by-4.0", "cc0-1.0"}
T = TypeVar("T")
E = TypeVar("E", bound="NeuralEngine")
Run = Callable[[list[str], float, int], tuple[np.ndarray, dict[str, Any]]]


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


def within_headroom(audio: np.ndarray) -> np.ndarray:
    """`audio` scaled down so its sample peak is at most `HEADROOM` (unchanged if it is)."""
    peak = float(np.abs(audio).max())
    return audio * (HEADROOM / peak) if peak > HEADROOM else audio


def settings_for(cls: type, settings: Settings, section: str) -> dict[str, Any]:
    """Keyword arguments for ``cls(...)``: the model and sample rate from ``[pipeline]``,
    then every key of ``[section]`` (its TOML name) that `cls` takes."""
    params = inspect.signature(cls).parameters
    table: Table = getattr(settings, section.replace("-", "_"))
    kwargs = {k: v for k, v in table.model_dump().items() if k in params}
    return {
        "model": settings.pipeline.model,
        "sample_rate": settings.pipeline.sample_rate,
        **kwargs,
    }


def torch_module() -> Any:
    """``torch``, or the error that says how to install the neural extra."""
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


def diffusers_class(name: str, *, engine: str, needs: str) -> Any:
    """The diffusers pipeline class `name`, or the error that says `engine` `needs` it."""
    try:
        return getattr(importlib.import_module("diffusers"), name)
    except (ImportError, AttributeError):
        raise InputError(
            f"the {engine} backend needs {needs}",
            field="pipeline.backend",
            value=engine,
            fix="pip install 'scoreflow[neural]'",
        ) from None


def resolve_device(name: str) -> str:
    """``auto`` -> cuda, mps or cpu, whichever is there; an explicit device must exist."""
    torch = torch_module()
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
    torch = torch_module()
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


def card_licence(model: str, *, allow_download: bool = False) -> str:
    """The ``license`` in the metadata of a model's card (README.md in its folder or the
    local Hugging Face cache); "" when there is no card or it names none."""
    from huggingface_hub import ModelCard

    folder = Path(model)
    try:
        if folder.is_dir():
            path = folder / "README.md"
            card = ModelCard.load(path) if path.is_file() else None
        else:
            from huggingface_hub import hf_hub_download

            card = ModelCard.load(
                hf_hub_download(model, "README.md", local_files_only=not allow_download)
            )
    except (OSError, ValueError):
        return ""
    licence = card.data.get("license") if card is not None else None
    return str(licence or "").strip().lower()


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


@dataclass(kw_only=True, eq=False)
class NeuralEngine:
    """A neural engine: its settings are its fields; `__post_init__` checks them
    (`_check`), resolves the model id and the device, then finishes the engine (`_setup`).
    """

    section: ClassVar[str]  # the config section its settings come from
    default_model: ClassVar[str]  # the model used when pipeline.model is empty
    version = "1"
    batched = True  # the flow gathers concurrent cues into batched calls
    commercial_use = False
    name = ""
    licence = ""

    model: str = ""
    sample_rate: int = 48000
    device: str = "auto"
    window_s: float = 30.0
    max_batch: int = 8
    raw_prompt: bool = False

    def __post_init__(self) -> None:
        self._check()
        self.model_id = self.model or self.default_model
        self.model = self.model_id
        self.device = resolve_device(self.device)
        self.max_seconds = self.window_s
        self._resolve()
        self._setup()

    def _check(self) -> None:
        """Refuse settings out of range (before anything is resolved or loaded)."""

    def _resolve(self) -> None:
        """Resolve what follows from the device (the dtype, where there is one)."""

    def _setup(self) -> None:
        """Finish the engine once its model and device are known."""

    @classmethod
    def from_config(cls: type[E], settings: Settings) -> E:
        """The engine with the settings of its ``[section]`` (and ``[pipeline]``)."""
        return cls(**settings_for(cls, settings, cls.section))

    def metrics(self) -> dict[str, Any]:
        """What every cue records about how it was made."""
        return {"model_id": self.model_id, "device": self.device}

    def to_cue(
        self,
        audio: np.ndarray,
        brief: Brief,
        *,
        model_rate: int,
        seconds: float,
        prompt: str,
        seed: int,
        metrics: dict[str, Any],
    ) -> Cue:
        """A cue from generated audio (shape (samples,) mono or (channels, samples)) at
        `model_rate`: resampled to the engine's rate, cut to `seconds` plus a `TAIL_S`
        tail, stereo, peak at most -1 dBFS."""
        ratio = Fraction(self.sample_rate, model_rate)
        audio = np.atleast_2d(audio)
        audio = signal.resample_poly(audio, ratio.numerator, ratio.denominator, axis=-1)
        body, tail = round(seconds * self.sample_rate), round(TAIL_S * self.sample_rate)
        audio = np.pad(audio, ((0, 0), (0, max(0, body + tail - audio.shape[1]))))
        audio = within_headroom(audio[:, : body + tail])
        stereo = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio[:2]
        stereo = stereo.astype(np.float32)
        return Cue(
            scene_id=brief.scene_id,
            audio=stereo[:, :body],
            tail=stereo[:, body:],
            sample_rate=self.sample_rate,
            backend=self.name,
            model=os.path.basename(self.model_id.rstrip("/")) or self.model_id,
            prompt=prompt,
            seed=seed,
            licence=self.licence,
            bpm=brief.tempo_bpm,
            key=f"{brief.key} {brief.mode}",
            metrics=metrics,
        )

    def generate_in_batches(
        self,
        briefs: list[Brief],
        seconds: list[float],
        *,
        seed: int,
        model_rate: int,
        run: Run,
        metrics: dict[str, Any],
    ) -> list[Cue]:
        """The body of every neural engine's `generate`.

        Checks the lengths, turns the briefs into prompts, groups the cues by length
        (`batches`), and for each group calls ``run(texts, seconds, batch_seed)``, where
        `seconds` is the group's longest cue plus `TAIL_S` and `batch_seed` is `seed` plus
        the group's first index; a group that runs out of memory is split (`split_on_oom`).
        `run` returns the audio (one row per text, at `model_rate`) and its own metrics.
        Every cue gets `metrics`, the run's metrics, ``batch`` and ``cues_in_call``.
        """
        if len(briefs) != len(seconds):
            raise ValueError(f"{len(briefs)} briefs but {len(seconds)} lengths")
        for brief, secs in zip(briefs, seconds, strict=True):
            if secs <= 0:
                raise InputError("cue length must be positive", scene=brief.scene_id, value=secs)
        texts = [prompt_text(b, raw=self.raw_prompt) for b in briefs]
        results: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}

        def one(indices: list[int]) -> list[tuple[np.ndarray, dict[str, Any]]]:
            longest = max(seconds[i] for i in indices) + TAIL_S
            audio, extra = run([texts[i] for i in indices], longest, seed + indices[0])
            return [(a, {**extra, "batch": len(indices)}) for a in audio]

        for group in batches(seconds, max_batch=self.max_batch):
            for i, result in zip(group, split_on_oom(one, group), strict=True):
                results[i] = result
        cues = []
        for i, (brief, secs) in enumerate(zip(briefs, seconds, strict=True)):
            audio, extra = results[i]
            cues.append(self.to_cue(
                audio, brief, model_rate=model_rate, seconds=secs, prompt=texts[i], seed=seed,
                metrics={**metrics, **extra, "cues_in_call": len(briefs)},
            ))  # fmt: skip
        return cues


@dataclass(kw_only=True, eq=False)
class PretrainedEngine(NeuralEngine):
    """A neural engine whose weights are loaded with ``from_pretrained`` from a folder or
    the local Hugging Face cache, offline unless ``allow_download``, in a chosen dtype."""

    label: ClassVar[str]  # the model's name in messages: "MusicGen model not found ..."
    download_fix: ClassVar[str]  # how to get it; ``{model}`` is the model id

    dtype: Any = "auto"  # "auto", "fp32", "fp16" or "bf16"; the torch dtype once resolved
    allow_download: bool = False

    def _resolve(self) -> None:
        self.dtype = resolve_dtype(self.dtype, self.device)

    def metrics(self) -> dict[str, Any]:
        return {**super().metrics(), "dtype": str(self.dtype).removeprefix("torch.")}

    def _missing(self, exc: Exception) -> MissingModelError:
        """The error for a model that is not there: what was tried and how to get it."""
        return MissingModelError(
            f"{self.label} model not found locally ({type(exc).__name__})",
            field="pipeline.model",
            value=self.model_id,
            fix=self.download_fix.format(model=self.model_id),
        )

    def pretrained(self, load: Callable[..., T], **options: Any) -> T:
        """``load(model_id, local_files_only=..., **options)``: offline unless downloads
        are allowed; a model that is not there is `_missing`."""
        try:
            return load(self.model_id, local_files_only=not self.allow_download, **options)
        except (OSError, ValueError) as exc:
            raise self._missing(exc) from None

    def licence_from_card(self, weights: str) -> None:
        """`licence` and `commercial_use` from the ``license`` on the model's card: only a
        licence in `PERMISSIVE` allows commercial use; no card or none named is unknown."""
        found = card_licence(self.model_id, allow_download=self.allow_download)
        self.commercial_use = found in PERMISSIVE
        said = f"{found} (from the model card)" if found else "unknown (the model card names none)"
        self.licence = f"{weights} ({os.path.basename(self.model_id.rstrip('/'))}): {said}"


@dataclass(kw_only=True, eq=False)
class DiffusersEngine(PretrainedEngine):
    """A `PretrainedEngine` that is one diffusers pipeline: its index is read when the
    engine is made (proof that the model is there), its weights on first `load`."""

    pipeline: ClassVar[str]  # the diffusers class, e.g. "StableAudioPipeline"
    needs: ClassVar[str]  # what to install when diffusers lacks it

    def __post_init__(self) -> None:
        self._cls = diffusers_class(self.pipeline, engine=self.name, needs=self.needs)
        self._pipe: Any = None
        super().__post_init__()
        self.pretrained(self._cls.load_config)

    def load(self) -> None:
        """The pipeline onto the device (once), progress bars off."""
        if self._pipe is not None:
            return
        pipe = self.pretrained(self._cls.from_pretrained, dtype=self.dtype)
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe.to(self.device)
        self._loaded()

    def _loaded(self) -> None:
        """Whatever follows from the loaded pipeline (its window, say)."""

    def seeded_call(self, texts: list[str], seed: int, **options: Any) -> np.ndarray:
        """The pipeline's audio for `texts`, sampled from a CPU generator seeded `seed`,
        as a float32 array."""
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)
        out = self._pipe(texts, generator=generator, **options).audios
        return np.asarray(out.float().cpu().numpy())
