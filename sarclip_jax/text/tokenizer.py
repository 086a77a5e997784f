"""One way to name a tokenizer in configs, the CLI and `sarclip_jax.load`.

    build_tokenizer("clip")                        # OpenAI CLIP BPE (vocabulary from open_clip_torch)
    build_tokenizer("/data/bpe_simple_vocab_16e6.txt.gz")  # CLIP BPE, vocabulary by path
    build_tokenizer("tok/sar8k.model")             # sentencepiece (sarclip tokenizer train ...)

    tokenizer_for(model)                           # the model's own (its directory's), else "clip"
    tokenizer_for(model, "clip")                   # refused if the text tower embeds fewer ids

Every tokenizer maps `tok(texts)` to int32 (N, context_length) and has encode / decode,
vocab_size, context_length, sot_token_id, eot_token_id and pad_id. `tokenizer_for` is the one
resolution the API, the evaluators and `sarclip eval` share: a model trained with its own
sentencepiece vocabulary is never fed CLIP BPE ids by default.
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
    model directory names (`model.tokenizer_spec`, set by `model_dir.load_model`); else CLIP's
    BPE. A tokenizer with more ids than the text tower embeds is refused: those ids would gather
    garbage (NaN on CPU) from past the end of the embedding table. A tokenizer object that does
    not say its vocab_size is wrapped so that every batch of ids it returns is checked instead.
    """
    text = model.config.text
    if spec is not None and not isinstance(spec, str):
        tok, name = spec, tokenizer_name(spec)
    else:
        name = spec or getattr(model, "tokenizer_spec", None) or "clip"
        tok = build_tokenizer(name, context_length=text.context_length)
    vocab = getattr(tok, "vocab_size", None)
    if vocab is None:
        return _CheckedTokenizer(tok, text.vocab_size, model_name(model))
    if vocab > text.vocab_size:
        raise ValueError(f"tokenizer {name!r} has {vocab} ids but {model_name(model)}'s text tower embeds only "
                         f"{text.vocab_size}; use the tokenizer the model was trained with (a model directory "
                         f"carries it as tokenizer.model, and sarclip_jax.load returns it)")
    return tok


def check_token_ids(ids: np.ndarray, vocab_size: int, what: str = "the model") -> None:
    """Raises ValueError when an id falls outside [0, vocab_size) of `what`'s text tower."""
    ids = np.asarray(ids)
    if ids.size and (int(ids.max()) >= vocab_size or int(ids.min()) < 0):
        raise ValueError(f"token ids range over [{int(ids.min())}, {int(ids.max())}] but {what}'s text tower embeds "
                         f"ids [0, {vocab_size}): the text was tokenized with another model's tokenizer")


def tokenizer_name(tok) -> str:
    """How errors name a tokenizer object: its file, or its type."""
    for attr in ("model_path", "vocab_path", "spec"):
        if getattr(tok, attr, None):
            return str(getattr(tok, attr))
    return type(tok).__name__


def model_name(model) -> str:
    """How errors name a model: "model DIR" for one loaded from DIR (`model.source`, set by
    model_dir.load_model and sarclip_jax.load), else "the model"."""
    source = getattr(model, "source", None)
    return f"model {source}" if source else "the model"


class _CheckedTokenizer:
    """A bare tokenizer callable whose ids are checked against the text tower on every call."""

    def __init__(self, tok, vocab_size: int, what: str):
        self._tok, self._vocab_size, self._what = tok, vocab_size, what

    def __call__(self, texts):
        ids = np.asarray(self._tok(texts))
        check_token_ids(ids, self._vocab_size, self._what)
        return ids

    def __getattr__(self, name):  # encode, decode, context_length... of the wrapped tokenizer
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._tok, name)
