"""ACE-Step 1.5 through diffusers' `AceStepPipeline`: text to 48 kHz stereo music.

The brief conditions the model in words (`base.prompt_text`) and in metadata: its tempo
(``bpm``), key (``keyscale``) and metre (``timesignature``); cues are instrumental. The
pipeline is loaded offline from a folder or the local Hugging Face cache unless
``ace-step.allow_download`` is set. The licence of the weights is read from the model's card
(the ``license`` of its metadata) and recorded on every cue; one that restricts commercial
use, or none at all, makes `commercial_use` False (the CLI warns).

Composer-guided rendering (``ace-step.guide = "composer"``, ``--guide composer``): the
embedded composer writes the cue (exact bars, tempo map, hit points on downbeats, the
ending on the cut) and renders it; that rendering is the source the model re-performs
(the pipeline's ``cover`` task, ``audio_cover_strength``), so the cue keeps the composer's
structure and sync. The composer's MIDI and plan travel with the cue, and how closely the
result kept the guide's beats and hits is measured and recorded.

`AceStep.repaint` regenerates one region of a cue (a hit, a bad bar) and keeps the rest
sample for sample; a cue longer than ``window_s`` is continued window by window by
repainting after the last ``overlap_s`` seconds of what came before.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoreflow.config.settings import Settings
from scoreflow.tasks.audio import analysis
from scoreflow.tasks.audio.align import fade
from scoreflow.tasks.engines.base import (
    DiffusersEngine,
    prompt_text,
    settings_for,
    within_headroom,
)
from scoreflow.tasks.engines.stable_audio import crossfade_join
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief, Cue

DEFAULT_MODEL = "ACE-Step/acestep-v15-xl-turbo-diffusers"
GUIDES = ("none", "composer")
EDGE_S = 0.05  # crossfade where a repainted region meets the audio kept around it


def keyscale(brief: Brief) -> str:
    """``"D minor"``: the modes ACE-Step knows are major and minor (dark modes read minor)."""
    minor = brief.mode in ("minor", "dorian", "phrygian")
    return f"{brief.key} {'minor' if minor else 'major'}"


@dataclass(kw_only=True, eq=False)
class AceStep(DiffusersEngine):
    """ACE-Step 1.5 behind the scoreflow backend interface."""

    name = "ace-step"
    section = "ace-step"
    default_model = DEFAULT_MODEL
    label = "ACE-Step"
    download_fix = (
        "Download it once with `hf download {model}`, set ace-step.allow_download = true, "
        "or give a local folder in diffusers' layout"
    )
    pipeline = "AceStepPipeline"
    needs = "diffusers 0.42 or later"

    steps: int = 8
    guidance_scale: float = 7.0
    shift: float = 3.0
    window_s: float = 240.0
    overlap_s: float = 10.0
    guide: str = "none"
    cover_strength: float = 0.7
    composer: Any = None

    def _check(self) -> None:
        if (self.steps < 1 or not 0 < self.overlap_s < self.window_s / 2
                or not 0 <= self.cover_strength <= 1):  # fmt: skip
            raise InputError(
                "need steps >= 1, 0 < overlap_s < window_s / 2, 0 <= cover_strength <= 1",
                field="ace-step",
                value={"steps": self.steps, "overlap_s": self.overlap_s,
                       "window_s": self.window_s, "cover_strength": self.cover_strength},
            )  # fmt: skip
        if self.guide not in GUIDES:
            fix = "Use none or composer"
            raise InputError("unknown guide", field="ace-step.guide", value=self.guide, fix=fix)
        if self.guide == "composer" and self.composer is None:
            raise ValueError("guide = composer needs the composer backend")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.licence_from_card("ACE-Step weights")
        if self.guide == "composer":
            self.version = f"1+{self.composer.name}-{self.composer.version}"

    @classmethod
    def from_config(cls, settings: Settings) -> AceStep:
        kwargs = settings_for(cls, settings, cls.section)
        if settings.ace_step.guide == "composer":
            from scoreflow.tasks.engines.composer import Composer

            kwargs["composer"] = Composer.from_config(settings)
        return cls(**kwargs)

    def self_check(self) -> str:
        self.load()
        return f"ace-step: {self.model_id}, {self.licence}"

    # -- calls ---------------------------------------------------------------------------
    def _call(self, texts: list[str], seconds: float, seed: int, **task: Any) -> np.ndarray:
        """(len(texts), 2, samples) at 48 kHz, `seconds` long (the pipeline rounds up to
        whole latent frames; cut back here)."""
        import torch

        if "src_audio" in task:
            task["src_audio"] = torch.from_numpy(np.ascontiguousarray(task["src_audio"]))
        audio = self.seeded_call(
            texts, seed, lyrics="[Instrumental]", audio_duration=seconds,
            num_inference_steps=self.steps,
            guidance_scale=1.0 if self._pipe.is_turbo else self.guidance_scale,
            shift=self.shift, **task,
        )  # fmt: skip
        return audio[..., : round(seconds * self._pipe.sample_rate)]

    def _windows(self, texts: list[str], total: float, seed: int, **meta: Any) -> np.ndarray:
        """`total` seconds in one call, or window by window: each next window repaints all
        but the last `overlap_s` of the audio so far, which it starts from."""
        window, overlap = self.max_seconds, self.overlap_s
        out = self._call(texts, min(total, window), seed, **meta)
        rate = self._pipe.sample_rate
        k = 0
        while out.shape[-1] < round(total * rate):
            k += 1
            context = out[..., -round(overlap * rate) :]
            length = min(window, total - out.shape[-1] / rate + overlap)
            src = np.zeros((*context.shape[:-1], round(length * rate)), np.float32)
            src[..., : context.shape[-1]] = context
            new = self._call(texts, length, seed + 1000 * k, task_type="repaint",
                             src_audio=src, repainting_start=overlap, repainting_end=None,
                             **meta)  # fmt: skip
            out = np.stack([
                crossfade_join([out[j], new[j]], context.shape[-1]) for j in range(len(texts))
            ])  # fmt: skip
        return out

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        """One cue per brief. Cues that share a tempo and key are generated together
        (batched by length); with the composer guide, each cue re-performs its own guide."""
        self.load()
        if self.guide == "composer":
            return [self._guided(b, secs, seed + i) for i, (b, secs) in
                    enumerate(zip(briefs, seconds, strict=True))]  # fmt: skip
        groups: dict[tuple[int, str], list[int]] = {}
        for i, b in enumerate(briefs):
            groups.setdefault((round(b.tempo_bpm), keyscale(b)), []).append(i)
        cues: dict[int, Cue] = {}
        for (bpm, key), members in groups.items():
            meta = {"bpm": bpm, "keyscale": key, "timesignature": "4"}

            def run(
                texts: list[str], total: float, batch_seed: int, meta: Any = meta
            ) -> tuple[np.ndarray, dict[str, Any]]:
                return self._windows(texts, total, batch_seed, **meta), {
                    "windows": max(1, math.ceil((total - self.overlap_s)
                                                / (self.max_seconds - self.overlap_s)))
                }  # fmt: skip

            made = self.generate_in_batches(
                [briefs[i] for i in members], [seconds[i] for i in members],
                seed=seed + members[0], model_rate=self._pipe.sample_rate, run=run,
                metrics=self.metrics(),
            )  # fmt: skip
            cues.update(zip(members, made, strict=True))
        return [cues[i] for i in range(len(briefs))]

    def metrics(self) -> dict[str, Any]:
        return {**super().metrics(), "steps": self.steps, "commercial_use": self.commercial_use}

    # -- composer-guided ---------------------------------------------------------------
    def _guided(self, brief: Brief, seconds: float, seed: int) -> Cue:
        """The composer's cue re-performed by the model (``cover``), its structure kept."""
        guide = self.composer.generate([brief], seconds=[seconds], seed=seed)[0]
        src = np.concatenate([guide.audio, guide.tail], axis=-1).astype(np.float32)
        total = src.shape[-1] / self.sample_rate
        meta = {"bpm": round(guide.bpm or brief.tempo_bpm), "keyscale": keyscale(brief),
                "timesignature": "4"}  # fmt: skip
        text = prompt_text(brief, raw=self.raw_prompt)
        audio = self._call([text], total, seed, task_type="cover", src_audio=src,
                           audio_cover_strength=self.cover_strength, **meta)[0]  # fmt: skip
        audio = np.pad(audio, ((0, 0), (0, max(0, src.shape[-1] - audio.shape[-1]))))
        audio = within_headroom(audio[:, : src.shape[-1]]).astype(np.float32)
        body = guide.audio.shape[-1]
        metrics = {
            **guide.metrics,
            **self.metrics(),
            "guide": "composer",
            "cover_strength": self.cover_strength,
            **structure_kept(audio[:, :body], guide, self.sample_rate),
        }
        return dataclasses.replace(
            guide, audio=audio[:, :body], tail=audio[:, body:], backend=self.name,
            model=os.path.basename(self.model_id.rstrip("/")) or self.model_id, prompt=text,
            licence=f"{self.licence}; arrangement: {guide.licence}", metrics=metrics,
        )  # fmt: skip

    # -- repainting --------------------------------------------------------------------
    def repaint(
        self, cue: Cue, *, start_s: float, end_s: float, seed: int, prompt: str = ""
    ) -> Cue:
        """The cue with ``[start_s, end_s)`` regenerated by the model in the context of the
        rest (ACE-Step's ``repaint`` task); everything outside the region, and its length,
        stay exactly as they were, with `EDGE_S` crossfades at the region's edges."""
        sr = cue.sample_rate
        full = np.concatenate([cue.audio, cue.tail], axis=-1).astype(np.float32)
        a, b = round(start_s * sr), round(end_s * sr)
        if not 0 <= a < b <= full.shape[-1]:
            raise InputError("repaint region outside the cue", scene=cue.scene_id,
                             value=(start_s, end_s))  # fmt: skip
        self.load()
        text = prompt or cue.prompt
        new = self._call([text], full.shape[-1] / sr, seed, task_type="repaint", src_audio=full,
                         repainting_start=start_s, repainting_end=end_s)[0]  # fmt: skip
        new = np.pad(new, ((0, 0), (0, max(0, full.shape[-1] - new.shape[-1]))))
        edge = min(round(EDGE_S * sr), (b - a) // 2)
        weight = np.zeros(full.shape[-1], np.float32)
        weight[a:b] = 1
        if edge:
            weight[a : a + edge] = fade(edge, fade_in=True)
            weight[b - edge : b] = fade(edge, fade_in=False)
        out = full * np.sqrt(1 - weight**2) + new[:, : full.shape[-1]] * weight
        body = cue.audio.shape[-1]
        spans = [*cue.metrics.get("repainted", []), [round(start_s, 3), round(end_s, 3)]]
        return dataclasses.replace(cue, audio=out[:, :body], tail=out[:, body:],
                                   metrics={**cue.metrics, "repainted": spans})  # fmt: skip


def structure_kept(audio: np.ndarray, guide: Cue, sample_rate: int) -> dict[str, Any]:
    """How closely a re-performance kept its guide: for the guide's downbeats and hit
    points, the median distance (ms) from each to the strongest attack of the new audio
    within 60 ms, and the share of them within 30 ms."""
    out: dict[str, Any] = {}
    for name, times in (("beats", guide.metrics.get("downbeats_s", [])),
                        ("hits", guide.metrics.get("hits_s", []))):  # fmt: skip
        inside = [t for t in times if 0.05 <= t <= audio.shape[-1] / sample_rate - 0.05]
        if not inside:
            continue
        found = analysis.attacks_near(audio, sample_rate, inside, window_s=0.06)
        errors = [abs(at - t) * 1000 for (at, _), t in zip(found, inside, strict=True)]
        out[f"guide_{name}_error_ms"] = round(float(np.median(errors)), 1)
        out[f"guide_{name}_within_30ms"] = round(sum(e <= 30 for e in errors) / len(errors), 3)
    return out
