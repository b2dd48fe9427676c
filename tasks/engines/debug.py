"""Pieces for building tiny or random neural backends in tests and benches (the way
audiocraft keeps a debug model): no files, no downloads. Needs the ``neural`` extra."""

from __future__ import annotations

import json
from typing import Any


def t5_tokenizer(phrases: list[str], *, vocab_size: int = 80, model_max_length: int = 512) -> Any:
    """A T5 tokenizer trained on `phrases`: a Unigram model (Metaspace pre-tokenizer,
    ``<pad>``, ``</s>``, ``<unk>``) passed to ``T5Tokenizer`` as a vocabulary, since
    ``T5Tokenizer(vocab_file=...)`` ignores the file."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tok.train_from_iterator(phrases, trainer)
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


def tiny_ace_step(*, seed: int = 0) -> Any:
    """ACE-Step 1.5's layout at toy size, random weights: an Oobleck VAE at 48 kHz with
    ACE-Step's 1920-sample hop (25 latent frames a second) and 8 latent channels, a
    one-layer DiT, condition encoder and audio (de)tokenizer for covers, a one-layer Qwen3
    text encoder and a turbo flag (no guidance). ``save_tiny_ace_step`` writes it where a
    real one would be loaded from."""
    import torch
    from diffusers import (
        AceStepPipeline,
        AceStepTransformer1DModel,
        AutoencoderOobleck,
        FlowMatchEulerDiscreteScheduler,
    )
    from diffusers.pipelines.ace_step.modeling_ace_step import (
        AceStepAudioTokenDetokenizer,
        AceStepAudioTokenizer,
        AceStepConditionEncoder,
    )
    from transformers import Qwen3Config, Qwen3Model

    phrases = [
        "# Instruction # Caption # Lyric # Metas bpm keyscale timesignature duration",
        "tense cinematic music strings calm ambient pad rock anthem drums major minor",
        "[Instrumental] en C D E F G A B seconds 4 120 90",
    ]
    tokenizer = word_tokenizer(phrases * 3)
    torch.manual_seed(seed)
    dim, text_dim, hidden = 8, 16, 16
    small = {
        "intermediate_size": 32,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "sliding_window": 16,
    }
    pipe = AceStepPipeline(
        vae=AutoencoderOobleck(
            encoder_hidden_size=2 * dim,  # mean and scale of `dim` latent channels
            downsampling_ratios=[2, 4, 4, 6, 10],
            decoder_channels=4,
            decoder_input_channels=dim,
            audio_channels=2,
            channel_multiples=[1, 1, 1, 1, 1],
            sampling_rate=48000,
        ),
        text_encoder=Qwen3Model(
            Qwen3Config(
                vocab_size=len(tokenizer),
                hidden_size=text_dim,
                num_hidden_layers=1,
                num_attention_heads=2,
                num_key_value_heads=1,
                head_dim=8,
                intermediate_size=32,
            )
        ),
        tokenizer=tokenizer,
        transformer=AceStepTransformer1DModel(
            hidden_size=hidden,
            num_hidden_layers=1,
            in_channels=3 * dim,
            audio_acoustic_hidden_dim=dim,
            patch_size=2,
            encoder_hidden_size=hidden,
            is_turbo=True,
            **small,
        ),
        condition_encoder=AceStepConditionEncoder(
            hidden_size=hidden,
            text_hidden_dim=text_dim,
            timbre_hidden_dim=dim,
            num_lyric_encoder_hidden_layers=1,
            num_timbre_encoder_hidden_layers=1,
            **small,
        ),
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
        audio_tokenizer=AceStepAudioTokenizer(
            hidden_size=hidden,
            audio_acoustic_hidden_dim=dim,
            pool_window_size=5,
            fsq_dim=hidden,
            num_attention_pooler_hidden_layers=1,
            **small,
        ),
        audio_token_detokenizer=AceStepAudioTokenDetokenizer(
            hidden_size=hidden,
            audio_acoustic_hidden_dim=dim,
            pool_window_size=5,
            num_attention_pooler_hidden_layers=1,
            **small,
        ),
    )
    return pipe


def save_tiny_ace_step(folder: str, *, licence: str = "mit", seed: int = 0) -> str:
    """`tiny_ace_step` saved to `folder` with a model card (README.md) whose metadata
    names `licence`, as a model's card on the hub does; returns `folder`."""
    import pathlib

    tiny_ace_step(seed=seed).save_pretrained(folder)
    card = f"---\nlicense: {licence}\ntags:\n- text-to-music\n---\n# tiny random ACE-Step\n"
    pathlib.Path(folder, "README.md").write_text(card)
    return folder
