"""Pieces for building tiny or random neural backends in tests and benches (the way
audiocraft keeps a debug model): no files, no downloads. Needs the ``neural`` extra."""

from __future__ import annotations

import json
from typing import Any

MUSIC_PHRASES = ["tense cinematic music, strings", "calm ambient pad, 70 bpm", "rock anthem drums"]


def t5_tokenizer(
    phrases: list[str] | None = None, *, vocab_size: int = 80, model_max_length: int = 512
) -> Any:
    """A T5 tokenizer trained on `phrases` (a few music phrases if none): a Unigram model
    (Metaspace pre-tokenizer, ``<pad>``, ``</s>``, ``<unk>``) passed to ``T5Tokenizer`` as a
    vocabulary, since ``T5Tokenizer(vocab_file=...)`` ignores the file."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tok.train_from_iterator(phrases or MUSIC_PHRASES * 5, trainer)
    vocab = [tuple(v) for v in json.loads(tok.to_str())["model"]["vocab"]]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)


def word_tokenizer(phrases: list[str], *, model_max_length: int = 2048) -> Any:
    """A fast tokenizer (word level, ``<pad>`` and ``<unk>``) trained on `phrases`, in the
    place of the Qwen3 tokenizer ACE-Step's text encoder uses."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(phrases, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>"]))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )


def random_musicgen(text: Any, audio: Any, *, width: int, layers: int, heads: int, ffn: int) -> Any:
    """MusicGen with random weights (seeded 0): a T5 text encoder (`text`, a ``T5Config``)
    and EnCodec (`audio`, an ``EncodecConfig``) under a decoder `layers` deep and `width`
    wide over 4 codebooks of the audio's codebook size; generation starts and pads with
    the token after the codebook, as the released models do."""
    import torch
    from transformers import MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration

    decoder = MusicgenDecoderConfig(
        vocab_size=audio.codebook_size, hidden_size=width, num_hidden_layers=layers,
        num_attention_heads=heads, ffn_dim=ffn, num_codebooks=4, max_position_embeddings=2048,
    )  # fmt: skip
    config = MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict()
    )
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(config)
    model.generation_config.decoder_start_token_id = audio.codebook_size
    model.generation_config.pad_token_id = audio.codebook_size
    return model


def oobleck_vae(*, latent: int, channels: int, multiples: list[int]) -> Any:
    """ACE-Step's Oobleck VAE: 48 kHz stereo, a 1920-sample hop (25 latent frames a
    second), `latent` channels (the encoder gives a mean and a scale of each)."""
    from diffusers import AutoencoderOobleck

    return AutoencoderOobleck(
        encoder_hidden_size=2 * latent, downsampling_ratios=[2, 4, 4, 6, 10],
        channel_multiples=multiples, decoder_channels=channels, decoder_input_channels=latent,
        audio_channels=2, sampling_rate=48000,
    )  # fmt: skip


def qwen3_encoder(vocab_size: int, **sizes: Any) -> Any:
    """A Qwen3 text encoder of `vocab_size` tokens and `sizes` (``Qwen3Config`` keywords)."""
    from transformers import Qwen3Config, Qwen3Model

    return Qwen3Model(Qwen3Config(vocab_size=vocab_size, **sizes))


def ace_step_pipeline(
    *, tokenizer: Any, vae: Any, text_encoder: Any, **modules: dict[str, Any]
) -> Any:
    """ACE-Step 1.5's pipeline from its VAE, text encoder and tokenizer, with a one-step
    flow-matching scheduler; its other modules (``transformer``, ``condition_encoder``,
    ``audio_tokenizer``, ``audio_token_detokenizer``) are built from the keyword arguments
    given for each in `modules` (diffusers' defaults, the real sizes, for what is left out).
    """
    from diffusers import (
        AceStepPipeline,
        AceStepTransformer1DModel,
        FlowMatchEulerDiscreteScheduler,
    )
    from diffusers.pipelines.ace_step import modeling_ace_step as m

    classes = {
        "transformer": AceStepTransformer1DModel,
        "condition_encoder": m.AceStepConditionEncoder,
        "audio_tokenizer": m.AceStepAudioTokenizer,
        "audio_token_detokenizer": m.AceStepAudioTokenDetokenizer,
    }
    return AceStepPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
        **{name: cls(**modules.get(name, {})) for name, cls in classes.items()},
    )


def _tiny_ace_step_modules(*, dim: int, text_dim: int, hidden: int) -> dict[str, dict[str, Any]]:
    """Keyword arguments of the toy ACE-Step's DiT, condition encoder and audio
    (de)tokenizer: one layer each, `hidden` wide, over `dim` latent channels."""
    small = {
        "hidden_size": hidden, "intermediate_size": 32, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 8, "sliding_window": 16,
    }  # fmt: skip
    pooler = {**small, "audio_acoustic_hidden_dim": dim, "pool_window_size": 5,
              "num_attention_pooler_hidden_layers": 1}  # fmt: skip
    return {
        "transformer": {**small, "num_hidden_layers": 1, "in_channels": 3 * dim,
                        "audio_acoustic_hidden_dim": dim, "patch_size": 2,
                        "encoder_hidden_size": hidden, "is_turbo": True},
        "condition_encoder": {**small, "text_hidden_dim": text_dim, "timbre_hidden_dim": dim,
                              "num_lyric_encoder_hidden_layers": 1,
                              "num_timbre_encoder_hidden_layers": 1},
        "audio_tokenizer": {**pooler, "fsq_dim": hidden},
        "audio_token_detokenizer": pooler,
    }  # fmt: skip


def tiny_ace_step(*, seed: int = 0) -> Any:
    """ACE-Step 1.5's layout at toy size, random weights: an Oobleck VAE at 48 kHz with
    ACE-Step's 1920-sample hop (25 latent frames a second) and 8 latent channels, a
    one-layer DiT, condition encoder and audio (de)tokenizer for covers, a one-layer Qwen3
    text encoder and a turbo flag (no guidance). ``save_tiny_ace_step`` writes it where a
    real one would be loaded from."""
    import torch

    phrases = [
        "# Instruction # Caption # Lyric # Metas bpm keyscale timesignature duration",
        "tense cinematic music strings calm ambient pad rock anthem drums major minor",
        "[Instrumental] en C D E F G A B seconds 4 120 90",
    ]
    tokenizer = word_tokenizer(phrases * 3)
    torch.manual_seed(seed)
    dim, text_dim, hidden = 8, 16, 16
    vae = oobleck_vae(latent=dim, channels=4, multiples=[1, 1, 1, 1, 1])  # drawn first
    text = qwen3_encoder(
        len(tokenizer), hidden_size=text_dim, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, intermediate_size=32,
    )  # fmt: skip
    modules = _tiny_ace_step_modules(dim=dim, text_dim=text_dim, hidden=hidden)
    return ace_step_pipeline(tokenizer=tokenizer, vae=vae, text_encoder=text, **modules)


def save_tiny_ace_step(folder: str, *, licence: str = "mit", seed: int = 0) -> str:
    """`tiny_ace_step` saved to `folder` with a model card (README.md) whose metadata
    names `licence`, as a model's card on the hub does; returns `folder`."""
    import pathlib

    tiny_ace_step(seed=seed).save_pretrained(folder)
    card = f"---\nlicense: {licence}\ntags:\n- text-to-music\n---\n# tiny random ACE-Step\n"
    pathlib.Path(folder, "README.md").write_text(card)
    return folder
