"""A sentencepiece tokenizer with ClipTokenizer's interface, and training it on SAR captions.

    from sarclip_jax.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece
    model_file = train_sentencepiece(["train.csv"], vocab_size=8000, out_prefix="tok/sar8k")
    tok = SentencePieceTokenizer(model_file)        # tok(["two ships ..."]) -> int32 (1, 77)

For text towers trained from scratch on SAR captions. Models trained here lay out their special
ids so that the text tower needs no change from CLIP:

    0 = padding, 1 = unknown, ..., vocab_size - 2 = start of text, vocab_size - 1 = end of text

The end-of-text id is the largest id, so pooling at `argmax(ids)` finds it, as with CLIP BPE;
sentencepiece never produces control ids from text, so no caption can imitate it. The layout is
stored in the `.model` file itself (plain sentencepiece sees the same ids).

Cleaning: captions go through the same ftfy / HTML-unescape / whitespace clean-up as CLIP's
tokenizer; lower-casing is the model's own normaliser (NFKC + case folding, `lower=True`), so a
model file always tokenizes the way it was trained. A foreign `.model` (T5, SigLIP, ...) loads
too, with its own special ids; a warning says when its end id is not the largest.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import sentencepiece as spm
from etils import epath

from sarclip_jax.text import cleaning as text_lib

PAD_ID, UNK_ID = 0, 1


class SentencePieceTokenizer:
    """Text -> ids with a sentencepiece model; same interface as ClipTokenizer."""

    def __init__(self, model_path: str | os.PathLike, context_length: int = 77):
        self.model_path = str(model_path)
        self._context_length = text_lib.check_context_length(context_length)
        try:
            proto = epath.Path(model_path).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"sentencepiece model {model_path} does not exist") from None
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(proto)
        except (RuntimeError, OSError) as e:
            raise ValueError(f"{model_path} is not a sentencepiece model ({e})") from None
        if self._sp.eos_id() < 0:
            raise ValueError(f"{model_path} has no end-of-sentence id; the text tower pools at it, "
                             f"so the model must define one (train with train_sentencepiece)")
        if self._sp.eos_id() != self._sp.get_piece_size() - 1:
            warnings.warn(f"{model_path}: end id {self._sp.eos_id()} is not the largest id "
                          f"({self._sp.get_piece_size() - 1}); argmax pooling will not find it, so "
                          f"set the text tower's end-of-text id explicitly", stacklevel=2)

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def sot_token_id(self) -> int | None:
        """None for a model without a start id (then no start token is written)."""
        return self._sp.bos_id() if self._sp.bos_id() >= 0 else None

    @property
    def eot_token_id(self) -> int:
        return self._sp.eos_id()

    @property
    def pad_id(self) -> int:
        return 0  # models trained here put padding at 0; for foreign ones 0 only fills the tail

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without start/end tokens and without truncation."""
        return self._sp.encode(text_lib.clean_text(text, lower=False))

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        """int32 (N, context_length): start, ids, end (kept when truncating), zero padding."""
        # One encode call per text: the list form starts a thread pool per call, which costs
        # ~30x the encoding of one caption (the training pipeline tokenizes one at a time).
        rows = [self._sp.encode(text_lib.clean_text(t, lower=False)) for t in text_lib.as_text_list(texts)]
        return text_lib.pack_ids(rows, self._context_length, sot=self.sot_token_id,
                                 eot=self.eot_token_id, pad=self.pad_id)

    def decode(self, ids) -> str:
        """Text of `ids`; a leading start token is dropped and decoding stops at the end token."""
        ids = text_lib.strip_special(ids, sot=self.sot_token_id, eot=self.eot_token_id)
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary [0, {self.vocab_size})")
        return self._sp.decode(ids)  # control ids (padding, start, end) decode to nothing


def read_captions(path: str | os.PathLike, caption_column: str = "caption") -> Iterator[str]:
    """Captions of a text file (one per line) or of an OpenCLIP CSV/TSV (`caption` column).

    A file is read as a table when it ends in .csv/.tsv; its separator is a tab when the header
    holds one (OpenCLIP's default), a comma otherwise.
    """
    path = epath.Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"caption file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"caption file {path} is not UTF-8 text ({e})") from None
    if path.suffix.lower() not in (".csv", ".tsv"):
        yield from content.splitlines()
        return
    header = content.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(content), delimiter="\t" if "\t" in header else ",")
    if caption_column not in (reader.fieldnames or []):
        raise ValueError(f"{path}: no {caption_column!r} column; the header has {reader.fieldnames}")
    for row in reader:
        yield row[caption_column] or ""


def train_sentencepiece(inputs: Iterable[str | os.PathLike], vocab_size: int, out_prefix: str | os.PathLike, *,
                        model_type: str = "bpe", lower: bool = True, character_coverage: float = 0.9995,
                        caption_column: str = "caption", verbose: bool = False) -> epath.Path:
    """Train on the captions of `inputs`; write OUT_PREFIX.model and .vocab; return the .model.

    Ids: 0 padding, 1 unknown, vocab_size-2 start, vocab_size-1 end (the largest, see above).
    """
    inputs = [str(p) for p in inputs]
    if not inputs:
        raise ValueError("train_sentencepiece needs at least one input caption file")
    if model_type not in ("bpe", "unigram"):
        raise ValueError(f"model_type must be 'bpe' or 'unigram', got {model_type!r}")
    if not isinstance(vocab_size, int) or vocab_size < 8:
        raise ValueError(f"vocab_size must be an int >= 8, got {vocab_size!r}")
    captions = [text_lib.clean_text(c, lower=False) for p in inputs for c in read_captions(p, caption_column)]
    captions = [c for c in captions if c]
    if not captions:
        raise ValueError(f"no captions in {inputs}")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(captions), model_writer=model, vocab_size=vocab_size,
            model_type=model_type, character_coverage=character_coverage,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=vocab_size - 2, eos_id=vocab_size - 1,
            normalization_rule_name="nmt_nfkc_cf" if lower else "nmt_nfkc",
            minloglevel=0 if verbose else 1)
    except RuntimeError as e:
        # The trainer's own message for an oversize vocabulary is an internal check failure.
        raise ValueError(f"sentencepiece could not train {vocab_size} pieces from {len(captions)} captions "
                         f"of {inputs}: {e}. Usually the corpus is too small for the vocabulary: try a "
                         f"smaller vocab_size") from None
    out = epath.Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    model_file = out.parent / (out.name + ".model")
    model_file.write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    (out.parent / (out.name + ".vocab")).write_text(
        "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i)}\n" for i in range(sp.get_piece_size())),
        encoding="utf-8")
    return model_file
