"""Benchmark: MusicGen decoding speed on musicgen-small's architecture with random weights.

Builds the published musicgen-small configuration (T5-base text encoder, a 24-layer 1024-wide
decoder over 4 codebooks of 2048, EnCodec 32 kHz at 50 frames/s), random weights, and times
`generate`: generated audio seconds per wall second for batch 1 and batch 8, in fp32 and in
a half precision (bf16 on the CPU, fp16 on CUDA). The baseline, measured in the same run, is
the memory-bandwidth bound: a decoding step reads every decoder weight once, so at most
``bandwidth / decoder weight bytes`` steps per second (bandwidth from a large tensor copy).
The speed-up tried: a static KV cache (``cache_implementation="static"``), in half precision.
On a CPU the full model is slow: ``--layers`` shrinks the decoder (say so with the figures).

Usage: python bench/bench_musicgen.py [--seconds 2] [--layers 24] [--device auto]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from transformers import EncodecConfig, MusicgenForConditionalGeneration, T5Config, T5Tokenizer

from scoreflow.tasks.engines.debug import random_musicgen, t5_tokenizer


def build(layers: int) -> tuple[MusicgenForConditionalGeneration, T5Tokenizer]:
    text = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)
    audio = EncodecConfig(
        sampling_rate=32000,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=2048,
        codebook_dim=128,
        hidden_size=128,
        num_filters=64,
        target_bandwidths=[2.2],
        num_lstm_layers=2,
        norm_type="weight_norm",
        use_causal_conv=False,
    )
    model = random_musicgen(text, audio, width=1024, layers=layers, heads=16, ffn=4096).eval()
    phrases = ["tense cinematic strings", "calm ambient pad", "rock drums"] * 9
    return model, t5_tokenizer(phrases, vocab_size=200)


def bandwidth_gb_s(device: str) -> float:
    """Copy bandwidth of a 512 MiB tensor (read + write counted)."""
    x = torch.empty(128 * 2**20, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(5):
        y.copy_(x)
    if device == "cuda":
        torch.cuda.synchronize()
    return 5 * 2 * x.numel() * 4 / (time.perf_counter() - t) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--layers", type=int, default=24, help="decoder layers (24 = full size)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batches", default="1,8")
    args = ap.parse_args()
    device = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    half = torch.float16 if device == "cuda" else torch.bfloat16
    model, tokenizer = build(args.layers)
    n_dec = sum(p.numel() for p in model.decoder.parameters())
    n_all = sum(p.numel() for p in model.parameters())
    bw = bandwidth_gb_s(device)
    frames = round(args.seconds * 50)
    steps = frames + 3  # the delay pattern adds codebooks - 1 steps
    size = "full size" if args.layers == 24 else f"decoder cut to {args.layers} of 24 layers"
    print(
        f"musicgen-small architecture ({size}), random weights: {n_all / 1e6:.0f}M parameters, "
        f"decoder {n_dec / 1e6:.0f}M; device {device}, {torch.get_num_threads()} threads; "
        f"copy bandwidth {bw:.1f} GB/s; {args.seconds:g} s clips ({steps} decoding steps)"
    )
    head = ("dtype", "batch", "wall", "audio s/s", "steps/s", "bound", "of bound")
    print("{:<16} {:>5} {:>8} {:>10} {:>8} {:>7} {:>9}".format(*head))
    batch_sizes = [int(b) for b in args.batches.split(",")]
    Run = tuple[torch.dtype, int, str | None]  # dtype, batch size, KV cache
    runs: list[Run] = [(torch.float32, b, None) for b in batch_sizes]
    runs += [(half, b, None) for b in batch_sizes]
    runs += [(half, b, "static") for b in batch_sizes]  # the speed-up: a static KV cache
    for dtype, batch, cache in runs:
        model.to(device=device, dtype=dtype)
        bound = bw * 1e9 / (n_dec * torch.finfo(dtype).bits / 8)
        extra: dict[str, Any] = {"cache_implementation": cache} if cache else {}
        inputs = tokenizer(["tense cinematic strings"] * batch, return_tensors="pt").to(device)
        model.generate(**inputs, max_new_tokens=8, do_sample=True, **extra)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                **inputs, max_new_tokens=steps, do_sample=True, guidance_scale=3.0, **extra
            )
        if device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t
        rate = steps / wall
        print(
            f"{str(dtype).removeprefix('torch.') + ('+static' if cache else ''):<16} "
            f"{batch:>5} {wall:>7.2f}s "
            f"{batch * args.seconds / wall:>10.3f} {rate:>8.1f} {bound:>7.1f} "
            f"{rate / bound:>8.0%}"
        )
    print(
        "bound: steps/s if each step only read the decoder weights once at the measured "
        "bandwidth; guidance doubles the batch (conditional + unconditional)."
    )


if __name__ == "__main__":
    main()
