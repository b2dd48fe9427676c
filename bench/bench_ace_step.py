"""Benchmark: ACE-Step 1.5 real-time factor on its turbo architecture with random weights.

Builds ACE-Step 1.5's published shape (a 24-layer 2048-wide DiT over 64 acoustic channels at
25 latent frames a second, its condition encoder, audio tokenizer and detokenizer, a
Qwen3-0.6B-sized text encoder, the Oobleck VAE with a 1920-sample hop at 48 kHz) with random
weights (the real ones cannot be downloaded here), saves and reloads it through
`AceStepPipeline.from_pretrained` as the backend does, and times `AceStep.generate`: audio
seconds per wall second for one cue of 30, 60 and 180 s and for a batch of 8 x 30 s, in
bf16 on CUDA (fp32 on a CPU), 8 steps (turbo). The baseline is real time (1.0): a ratio
above it renders faster than playback. ``--guide`` times the composer-guided path too (the
composer's render is part of its time). On a CPU use ``--layers 2`` and say so.

Usage: python bench/bench_ace_step.py [--layers 24] [--lengths 30,60,180] [--batch 8] [--guide]
       [--tiny]  (the tests' toy model: checks the script runs, no figures worth reading)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction

import torch

from scoreflow.tasks.engines.ace_step import AceStep
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.engines.debug import (
    ace_step_pipeline,
    oobleck_vae,
    qwen3_encoder,
    save_tiny_ace_step,
    word_tokenizer,
)
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Brief, Scene


def build(folder: str, layers: int) -> None:
    """ACE-Step 1.5's published sizes (diffusers' defaults), `layers` DiT layers."""
    tokenizer = word_tokenizer(["cinematic strings rock drums ambient pad bpm major minor"] * 3)
    pipe = ace_step_pipeline(
        tokenizer=tokenizer,
        vae=oobleck_vae(latent=64, channels=128, multiples=[1, 2, 4, 8, 16]),
        text_encoder=qwen3_encoder(151669, hidden_size=1024, num_hidden_layers=28,
                                   num_attention_heads=16, num_key_value_heads=8,
                                   head_dim=128, intermediate_size=3072),
        transformer={"num_hidden_layers": layers, "is_turbo": True},
    )  # fmt: skip
    pipe.save_pretrained(folder)


def brief(seconds: float, k: int = 0) -> Brief:
    text = ["tense cinematic strings", "rock anthem drums", "calm ambient pad"][k % 3]
    return make_brief(Scene(f"c{k}", 0, round(seconds * 25), Fraction(25), text))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--lengths", default="30,60,180")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--guide", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="the test's toy model: a smoke run")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    dtype = "bf16" if cuda else "fp32"
    with tempfile.TemporaryDirectory() as folder:
        if args.tiny:
            save_tiny_ace_step(folder)
        else:
            build(folder, args.layers)
        engine = AceStep(model=folder, device="cuda" if cuda else "cpu", dtype=dtype, steps=8,
                         window_s=600.0)  # fmt: skip
        engine.load()
        shape = "toy" if args.tiny else f"turbo shape, {args.layers} DiT layers"
        print(
            f"ACE-Step 1.5 {shape}, random weights, {engine.device} {engine.dtype}, "
            "8 steps; baseline: real time = 1.0x"
        )
        engine.generate([brief(5.0)], seconds=[5.0], seed=0)  # warm-up
        runs = [(1, float(s)) for s in args.lengths.split(",")] + [(args.batch, 30.0)]
        for batch, seconds in runs:
            briefs = [brief(seconds, k) for k in range(batch)]
            if cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            engine.generate(briefs, seconds=[seconds] * batch, seed=1)
            if cuda:
                torch.cuda.synchronize()
            wall = time.perf_counter() - t
            print(f"  {batch} x {seconds:>5.0f} s: {wall:7.2f} s wall, "
                  f"{batch * seconds / wall:7.1f}x real time")  # fmt: skip
        if args.guide:
            guided = AceStep(model=folder, device=engine.device, dtype=dtype, steps=8,
                             guide="composer", composer=Composer())  # fmt: skip
            guided._pipe = engine._pipe
            t = time.perf_counter()
            guided.generate([brief(30.0)], seconds=[30.0], seed=2)
            wall = time.perf_counter() - t
            print(f"  guided 1 x 30 s: {wall:7.2f} s wall, {30.0 / wall:7.1f}x real time")


if __name__ == "__main__":
    main()
