"""One way to name a tokenizer in configs, the CLI and `sarclip_jax.load`.

    build_tokenizer("clip")                        # OpenAI CLIP BPE (vocabulary from open_clip_torch)
    build_tokenizer("/data/bpe_simple_vocab_16e6.txt.gz")  # CLIP BPE, vocabulary by path
    build_tokenizer("tok/sar8k.model")             # sentencepiece (sarclip tokenizer train ...)

Every tokenizer maps `tok(texts)` to int32 (N, context_length) and has encode / decode,
vocab_size, context_length, sot_token_id, eot_token_id and pad_id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Tokenizer(Protocol):
    vocab_size: int
    context_length: int
    sot_token_id: int | None
    eot_token_id: int
    pad_id: int

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray: ...
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids) -> str: ...


def build_tokenizer(spec: str, context_length: int = 77) -> Tokenizer:
    """"clip", a path to a CLIP BPE vocabulary (*.gz) or to a sentencepiece model (*.model)."""
    name = str(spec)
    if name.lower() == "clip":
        from sarclip_jax.text.clip_bpe import ClipTokenizer
        return ClipTokenizer(context_length=context_length)
    if name.endswith(".gz"):
        from sarclip_jax.text.clip_bpe import ClipTokenizer
        return ClipTokenizer(name, context_length=context_length)
    if name.endswith(".model"):
        from sarclip_jax.text.sentencepiece_tokenizer import SentencePieceTokenizer
        return SentencePieceTokenizer(name, context_length=context_length)
    raise ValueError(f"unknown tokenizer {spec!r}: expected 'clip' (OpenAI CLIP BPE), a path to a CLIP BPE "
                     f"vocabulary ending in .gz, or a path to a sentencepiece model ending in .model")


def vocab_size_of(spec: str) -> int | None:
    """The vocabulary size of a sentencepiece tokenizer spec; None for CLIP BPE (a CLIP text
    tower's own 49,408 ids)."""
    if not str(spec).endswith(".model"):
        return None
    from sarclip_jax.text.sentencepiece_tokenizer import SentencePieceTokenizer

    return SentencePieceTokenizer(spec).vocab_size


def tokenizer_for(model, spec: str | Tokenizer | None = None) -> Tokenizer:
    """The tokenizer to use with `model`, resolved one way everywhere (API, evaluators, trainer).

    `spec` wins when given (a tokenizer object or a build_tokenizer spec); else the tokenizer its
    model directory names (`model.tokenizer_spec`, set when it was loaded); else CLIP's BPE. A
    tokenizer with more ids than the text tower embeds is refused: those ids would gather garbage
    (NaN on CPU) from past the end of the embedding table.
    """
    text = model.config.text
    if spec is not None and not isinstance(spec, str):
        tok, name = spec, getattr(spec, "spec", type(spec).__name__)
    else:
        name = spec or getattr(model, "tokenizer_spec", None) or "clip"
        tok = build_tokenizer(name, context_length=text.context_length)
    if tok.vocab_size > text.vocab_size:
        raise ValueError(f"tokenizer {name!r} has {tok.vocab_size} ids but the model's text tower embeds only "
                         f"{text.vocab_size}; use the tokenizer the model was trained with (a model directory "
                         f"carries it as tokenizer.model)")
    return tok


def check_token_ids(ids: np.ndarray, vocab_size: int, what: str = "the model") -> None:
    """Raises ValueError when an id falls outside [0, vocab_size) of `what`'s text tower."""
    if ids.size and (int(ids.max()) >= vocab_size or int(ids.min()) < 0):
        raise ValueError(f"token ids range over [{int(ids.min())}, {int(ids.max())}] but {what}'s text tower embeds "
                         f"ids [0, {vocab_size}): the text was tokenized with another model's tokenizer")
