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
