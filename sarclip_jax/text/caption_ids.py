"""Caption identity: when two captions say the same thing, and a 64-bit id for it.

Template-generated caption sets repeat sentences across images; a contrastive loss that treats
every other caption of a batch as a negative then pushes an image away from a caption that
describes it exactly. Captions are the same when their normalised texts are: cleaned as the
tokenizers clean them, lower case, no space before punctuation, no final full stop (SARCLIP's
CSVs write "... upper left ." where generated captions write "... upper left.").

    caption_key("Two ships in the upper left .") == caption_key("two ships in the upper left")
    caption_id(text)       -> int64 (blake2b of the key, 8 bytes)
    caption_id_pair(text)  -> (high, low) int32 halves, for devices without 64-bit integers
    label_id_pair(label)   -> the same for a class label: its group in loss.label_weight's term
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from sarclip_jax.text.cleaning import clean_text

_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


def caption_key(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub(r"\1", clean_text(text)).rstrip(". ")


def caption_id(text: str) -> int:
    """A signed 64-bit id of the caption's normalised text (stable across runs and machines)."""
    digest = hashlib.blake2b(caption_key(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def caption_id_pair(text: str) -> np.ndarray:
    """caption_id as two int32: (high, low). Equal pairs exactly when the 64-bit ids are equal."""
    value = caption_id(text) & (2**64 - 1)
    return np.array([value >> 32, value & 0xFFFFFFFF], np.uint32).view(np.int32)


def label_id_pair(label: str) -> np.ndarray:
    """A class label's id as two int32 (the namespace keeps it apart from every caption's id)."""
    return caption_id_pair("class label: " + label)
