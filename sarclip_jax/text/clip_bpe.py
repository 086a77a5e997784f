"""CLIP's byte-level BPE tokenizer with OpenAI's vocabulary, in Python and numpy (no torch).

    from sarclip_jax.text.clip_bpe import ClipTokenizer
    tok = ClipTokenizer()                      # vocabulary from an installed open_clip_torch
    ids = tok(["two ships in the upper left"])  # int32 (1, 77): 49406, ..., 49407, 0, 0, ...

Gives the ids `open_clip.tokenize` gives (tested on thousands of strings). The steps:
clean (ftfy, HTML unescape twice, whitespace collapse, lower-case), split with CLIP's regex
(contractions, letter runs, single digits, runs of other symbols), map each piece's UTF-8 bytes
to printable stand-in characters, merge those by the ranked merge list, look up the ids.
A piece that spells a special token literally (e.g. "<end_of_text>") gets that token's id, as
in OpenCLIP.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import regex
from etils import epath  # paths may be gs:// buckets, as everywhere in the project

from sarclip_jax.text import cleaning as text_lib

VOCAB_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
# CLIP's 49,408 ids: 256 byte symbols, the same 256 as word ends, the first 48,894 merges of
# the file (it holds more), then the start and end tokens.
NUM_MERGES = 49152 - 256 - 2
SOT, EOT = "<start_of_text>", "<end_of_text>"
WORD_END = "</w>"

_PIECE_PATTERN = regex.compile(
    "|".join(map(regex.escape, (SOT, EOT)))
    + r"""|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)

_MISSING_VOCAB = (
    f"CLIP's BPE vocabulary {VOCAB_FILENAME} was not found: it ships inside the open_clip_torch "
    f"package. Either `pip install open_clip_torch` (torch is not imported; only the file is read) "
    f"or pass vocab_path=/path/to/{VOCAB_FILENAME} (build_tokenizer('/path/to/{VOCAB_FILENAME}')).")


@functools.cache
def _byte_tables() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(stand-in character of each byte 0..255, the bytes in id order).

    Bytes that print as themselves keep their character; the others (controls, space, soft
    hyphen, ...) take code points from 256 upward in byte order, so every symbol is visible and
    none is whitespace. Ids 0..255 go to the printable bytes first, then to the others.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = sorted(set(range(256)) - set(printable))
    symbol = {b: chr(b) for b in printable} | {b: chr(256 + k) for k, b in enumerate(others)}
    return tuple(symbol[b] for b in range(256)), tuple(printable + others)


def find_default_vocab() -> Path | None:
    """The vocabulary inside an installed open_clip_torch, found without importing it."""
    try:
        spec = importlib.util.find_spec("open_clip")  # top-level name: locates, does not import
    except (ImportError, ValueError):  # ValueError: a half-initialised module without __spec__
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / VOCAB_FILENAME
        if candidate.is_file():
            return candidate
    try:
        files = importlib.metadata.files("open_clip_torch") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == VOCAB_FILENAME and Path(f.locate()).is_file():
            return Path(f.locate())
    return None


@functools.lru_cache(maxsize=4)
def _read_merges(path: str) -> tuple[tuple[str, str], ...]:
    try:
        raw = epath.Path(path).read_bytes()
        lines = gzip.decompress(raw).decode("utf-8").split("\n")
    except FileNotFoundError:
        raise FileNotFoundError(f"CLIP BPE vocabulary {path} does not exist. {_MISSING_VOCAB}") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a gzipped CLIP BPE merges file ({e})") from None
    merges = []
    for n, line in enumerate(lines[1:NUM_MERGES + 1], start=2):  # line 1 is a version header
        if not line:
            break
        parts = tuple(line.split())
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: a merge line has two symbols, got {line!r:.80}")
        merges.append(parts)
    if not merges:
        raise ValueError(f"{path} holds no BPE merges")
    return tuple(merges)


class ClipTokenizer:
    """Text -> CLIP token ids (and back). Same ids as `open_clip.tokenize` with the default vocab."""

    def __init__(self, vocab_path: str | os.PathLike | None = None, context_length: int = 77, *,
                 lower: bool = True, cache_size: int = 1 << 17):
        if vocab_path is None:
            vocab_path = find_default_vocab()
            if vocab_path is None:
                raise FileNotFoundError(_MISSING_VOCAB)
        self._args = (str(vocab_path), context_length, lower, cache_size)
        self.vocab_path = str(vocab_path)
        self._context_length = text_lib.check_context_length(context_length)
        self._lower = lower
        merges = _read_merges(self.vocab_path)
        self._byte_symbol, id_order = _byte_tables()
        symbols = [self._byte_symbol[b] for b in id_order]
        vocab = [*symbols, *(s + WORD_END for s in symbols), *("".join(m) for m in merges), SOT, EOT]
        self._id_of = {piece: i for i, piece in enumerate(vocab)}
        self._piece_of = vocab
        self._rank = {pair: r for r, pair in enumerate(merges)}
        self._symbol_byte = {s: b for b, s in enumerate(self._byte_symbol)}
        # Captions repeat their words endlessly; merging a word once is the whole speed-up.
        self._word_ids = functools.lru_cache(maxsize=cache_size)(self._word_ids_uncached)

    # Pickled as its arguments (Grain workers receive tokenizers by pickle; the cache is not
    # picklable and is cheap to rebuild).
    def __getstate__(self):
        return self._args

    def __setstate__(self, args):
        vocab_path, context_length, lower, cache_size = args
        self.__init__(vocab_path, context_length, lower=lower, cache_size=cache_size)

    @property
    def vocab_size(self) -> int:
        return len(self._piece_of)

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def sot_token_id(self) -> int:
        return self._id_of[SOT]

    @property
    def eot_token_id(self) -> int:
        return self._id_of[EOT]

    @property
    def pad_id(self) -> int:
        return 0

    def _merge(self, symbols: list[str]) -> list[str]:
        """Apply merges lowest rank first; each round joins every occurrence, left to right."""
        rank, inf = self._rank, len(self._rank)
        while len(symbols) > 1:
            pairs = zip(symbols, symbols[1:])
            best = min(pairs, key=lambda p: rank.get(p, inf))
            if best not in rank:
                break
            first, second = best
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

    def _word_ids_uncached(self, piece: str) -> tuple[int, ...]:
        if piece in (SOT, EOT):
            return (self._id_of[piece],)
        symbols = [self._byte_symbol[b] for b in piece.encode("utf-8")]
        symbols[-1] += WORD_END  # the last symbol marks the end of the word
        return tuple(self._id_of[s] for s in self._merge(symbols))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without start/end tokens and without truncation."""
        ids: list[int] = []
        for piece in _PIECE_PATTERN.findall(text_lib.clean_text(text, lower=self._lower)):
            ids.extend(self._word_ids(piece))
        return ids

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        """int32 (N, context_length): start, ids, end (kept when truncating), zero padding."""
        rows = [self.encode(t) for t in text_lib.as_text_list(texts)]
        return text_lib.pack_ids(rows, self._context_length, sot=self.sot_token_id,
                                 eot=self.eot_token_id, pad=self.pad_id)

    def decode(self, ids) -> str:
        """Text of `ids`: a leading start token is dropped and decoding stops at the end token
        (what follows is padding). Words come back space-separated, lower-cased and cleaned.
        """
        ids = text_lib.strip_special(ids, sot=self.sot_token_id, eot=self.eot_token_id)
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary [0, {self.vocab_size})")
        # Special tokens and the word-end mark are spelled in printable ASCII, which stands for
        # itself, so every character maps back to a byte.
        data = bytes(self._symbol_byte[c] for i in ids for c in self._piece_of[i])
        return data.decode("utf-8", errors="replace").replace(WORD_END, " ").strip()
