"""Grain batching shared by the training pipeline and the evaluators: fixed-size batches of a
MapDataset, prepared in the calling process or in Grain worker processes, and the evaluation
form of it (every record once, per-process slices, padding and masks, bad records counted).

    prepare = MyPrepare(...)          # picklable: record -> {"image": ...}; raises on a bad record
    ds = eval_dataset(source, prepare, prepare.blank(), batch_size=64,
                      shard_index=jax.process_index(), shard_count=jax.process_count(), workers=2)
    for batch in iterate(ds):         # {"image", "mask", "bad", "index", "error"}, each (64, ...)
        ...

Evaluation batches: global batch b is source positions [b * G, (b + 1) * G) with G = batch_size x
shard_count, shard p holding the p-th slice of each (`positions`), so stacking the shards' outputs
batch by batch restores source order; every shard yields the same number of batches (the last
ones padded: mask False, index -1). A record that cannot be read or prepared is counted, not
scored: `bad` True, `mask` False, its `index` kept and its reason in `error` (utf-8 bytes,
`error_text`). Exceptions of the types in `fatal` are configuration errors and stop the run.

Worker processes (`workers` > 0) start with spawn, each importing Grain (hence JAX) and unpickling
the source and the prepare function once; they take whole batches, so any worker count yields
the same batches. The source and `prepare` must pickle (no closures over open files or locks);
whatever they build lazily (a tokenizer, a decoder) is built once per worker, not per batch.
This module imports no library layer (DESIGN.md section 3): the TFDS pipeline
(`sarclip_jax.data.pipeline`) and the evaluators (`sarclip_jax.evaluation.embed`) both use it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from sarclip_jax.data import records

log = logging.getLogger(__name__)

ERROR_BYTES = 256  # bytes of a bad record's reason carried in its batch row


class BadRecords:
    """Per-process count of bad records met (Grain worker processes each keep their own and log
    every one; the count is exact when workers=0)."""

    def __init__(self):
        self._lock, self.count = threading.Lock(), 0

    def add(self, what: str, where: str, error: Exception) -> None:
        with self._lock:
            self.count += 1
            n = self.count
        log.warning("%s: record %s is unreadable (%s: %s); %d bad record(s) in this process so far",
                    what, where, type(error).__name__, error, n)


BAD_RECORDS = BadRecords()


def record_name(record, index: int) -> str:
    image_id = record.get("image_id") if isinstance(record, dict) else None
    return f"#{index}" if image_id is None else f"#{index} ({records.text_of(image_id)})"


def _absl_flags_at_defaults() -> None:
    """Grain reads one of its absl flags when it starts worker processes once a profiler (JAX's)
    is loaded; in a program that never parsed absl flags (ours, a notebook) that read raises
    UnparsedFlagAccessError mid-run. Marking them parsed keeps every flag at its default."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def batched(ds, batch_size: int, *, drop_remainder: bool, workers: int = 0, read_threads: int = 1,
            prefetch_batches: int = 2, worker_buffer_size: int = 2):
    """MapDataset of examples -> IterDataset of batches. Batching before the worker split makes
    worker processes take whole batches, so any worker count yields the same batches."""
    import grain

    if workers < 0 or read_threads < 1 or prefetch_batches < 0:
        raise ValueError(f"need workers >= 0, read_threads >= 1, prefetch_batches >= 0; got {workers}, "
                         f"{read_threads}, {prefetch_batches}")
    read = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=prefetch_batches)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).to_iter_dataset(read)
    if workers > 0:
        _absl_flags_at_defaults()
        return ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers,
                                                           per_worker_buffer_size=worker_buffer_size))
    return ds


def iterate(ds) -> Iterator[dict[str, np.ndarray]]:
    """The batches of `ds` as plain numpy arrays (copied out of the workers' shared memory), its
    worker processes stopped when the loop ends, early or not."""
    it = iter(ds)
    try:
        for batch in it:
            yield {k: np.array(v) for k, v in batch.items()}
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


# --- evaluation -------------------------------------------------------------------------------------

def num_batches(n: int, batch_size: int, shard_count: int = 1) -> int:
    """Batches every shard yields for `n` records (at least one)."""
    return max(1, -(-n // (batch_size * shard_count)))


def positions(n: int, batch_size: int, shard_index: int = 0, shard_count: int = 1) -> np.ndarray:
    """The global source positions of one shard's examples, in its order; those >= n are padding."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} out of range for {shard_count} processes")
    b = np.arange(num_batches(n, batch_size, shard_count))[:, None]
    return (b * batch_size * shard_count + shard_index * batch_size + np.arange(batch_size)).reshape(-1)


def error_row(error: Exception) -> np.ndarray:
    data = f"{type(error).__name__}: {error}".encode("utf-8", "backslashreplace")[:ERROR_BYTES]
    row = np.zeros(ERROR_BYTES, np.uint8)
    row[:len(data)] = np.frombuffer(data, np.uint8)
    return row


def error_text(row: np.ndarray) -> str:
    """The reason carried by a bad record's `error` row."""
    return bytes(np.asarray(row, np.uint8)).rstrip(b"\0").decode("utf-8", "ignore")


class _Position:
    """Index of an example of one shard -> its global source position (picklable)."""

    def __init__(self, batch_size: int, shard_index: int, shard_count: int):
        self.batch_size, self.global_batch = batch_size, batch_size * shard_count
        self.offset = shard_index * batch_size

    def __call__(self, i: int) -> int:
        b, j = divmod(int(i), self.batch_size)
        return b * self.global_batch + self.offset + j


class EvalTransform:
    """Global position -> example: `prepare(source[position])`'s fields with mask, bad, index and
    error; positions past the end are `blank` padding, and a record that cannot be read or
    prepared is marked bad (blank fields, mask False, index kept) and counted."""

    def __init__(self, source, prepare: Callable[[Any], Mapping[str, np.ndarray]], blank: Mapping[str, np.ndarray],
                 fatal: tuple[type[BaseException], ...] = ()):
        self.source, self.prepare, self.fatal = source, prepare, tuple(fatal)
        self.blank = {k: np.asarray(v) for k, v in blank.items()}
        self.n = len(source)

    def __call__(self, position: int) -> dict[str, np.ndarray]:
        real = position < self.n
        out = {"mask": np.asarray(real, np.bool_), "index": np.asarray(position if real else -1, np.int32),
               "bad": np.asarray(False), "error": np.zeros(ERROR_BYTES, np.uint8)}
        fields = self.blank
        if real:
            record = None
            try:
                record = self.source[position]
                fields = {k: np.asarray(v) for k, v in self.prepare(record).items()}
                for k, v in self.blank.items():
                    if fields[k].shape != v.shape:
                        raise ValueError(f"{k} has shape {fields[k].shape}, not {v.shape}")
            except self.fatal:
                raise
            except Exception as e:  # decoders and sources raise many types on damaged data
                BAD_RECORDS.add("evaluation", record_name(record, position), e)
                fields = self.blank
                out.update(mask=np.asarray(False), bad=np.asarray(True), error=error_row(e))
        return {**out, **fields}


def eval_dataset(source, prepare: Callable[[Any], Mapping[str, np.ndarray]], blank: Mapping[str, np.ndarray],
                 batch_size: int, shard_index: int = 0, shard_count: int = 1, *, workers: int = 0,
                 read_threads: int = 1, prefetch_batches: int = 2, worker_buffer_size: int = 2,
                 fatal: tuple[type[BaseException], ...] = ()):
    """This shard's eval IterDataset over any random-access `source` (len + getitem): every record
    seen once over all shards, in `batch_size` batches, padded with mask=False; every shard yields
    the same number of batches."""
    import grain

    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} out of range for {shard_count} processes")
    n = num_batches(len(source), batch_size, shard_count) * batch_size
    ds = grain.MapDataset.range(n).map(_Position(batch_size, shard_index, shard_count))
    ds = ds.map(EvalTransform(source, prepare, blank, fatal))
    return batched(ds, batch_size, drop_remainder=False, workers=workers, read_threads=read_threads,
                   prefetch_batches=prefetch_batches, worker_buffer_size=worker_buffer_size)
