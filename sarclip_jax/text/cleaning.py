"""Text cleaning and id packing shared by the tokenizers (CLIP BPE, sentencepiece).

Both tokenizers see captions cleaned the same way, and both pack ids the same way:
`[start, ids..., end]`, cut to the context length with the end token kept in the last slot
(the text tower pools at the end token, so it must survive truncation), then zero-padded.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence

import ftfy
import numpy as np


def clean_text(text: str, *, lower: bool = True) -> str:
    """Repair mojibake, unescape HTML, collapse whitespace, optionally lower-case.

    Unescaping runs twice because scraped captions are often escaped twice (`&amp;#39;`).
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenizers take str, got {type(text).__name__}: {text!r:.80}")
    return _clean(text, lower)


# Generated captions repeat (templates), and ftfy is most of a caption's tokenizing time.
@functools.lru_cache(maxsize=1 << 16)
def _clean(text: str, lower: bool) -> str:
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    text = " ".join(text.split())
    return text.lower() if lower else text


def as_text_list(texts: str | Sequence[str]) -> list[str]:
    """One string or a sequence of strings -> a list, with a clear error for anything else."""
    if isinstance(texts, str):
        return [texts]
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str: {text!r:.80}")
    return texts


def pack_ids(rows: Sequence[Sequence[int]], context_length: int, *, sot: int | None, eot: int,
             pad: int = 0) -> np.ndarray:
    """Token lists (without start/end) -> int32 array (len(rows), context_length)."""
    out = np.full((len(rows), context_length), pad, dtype=np.int32)
    head = [] if sot is None else [sot]
    for r, ids in enumerate(rows):
        ids = [*head, *ids, eot]
        if len(ids) > context_length:
            ids = ids[:context_length - 1] + [eot]
        out[r, :len(ids)] = ids
    return out


def check_context_length(context_length: int) -> int:
    if not isinstance(context_length, (int, np.integer)) or context_length < 2:
        raise ValueError(f"context_length must be an int >= 2 (room for the start and end tokens), "
                         f"got {context_length!r}")
    return int(context_length)


def strip_special(ids, *, sot: int | None, eot: int) -> list[int]:
    """Ids between the start token and the first end token (padding follows the end token)."""
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    if ids and sot is not None and ids[0] == sot:
        ids = ids[1:]
    if eot in ids:
        ids = ids[:ids.index(eot)]
    return ids
