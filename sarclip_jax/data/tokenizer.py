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
        from sarclip_jax.data.clip_bpe import ClipTokenizer
        return ClipTokenizer(context_length=context_length)
    if name.endswith(".gz"):
        from sarclip_jax.data.clip_bpe import ClipTokenizer
        return ClipTokenizer(name, context_length=context_length)
    if name.endswith(".model"):
        from sarclip_jax.data.sentencepiece_tokenizer import SentencePieceTokenizer
        return SentencePieceTokenizer(name, context_length=context_length)
    raise ValueError(f"unknown tokenizer {spec!r}: expected 'clip' (OpenAI CLIP BPE), a path to a CLIP BPE "
                     f"vocabulary ending in .gz, or a path to a sentencepiece model ending in .model")
