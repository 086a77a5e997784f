"""Grain pipelines over the TFDS SAR datasets (array_record via `tfds.data_source`, no TensorFlow).

Training (`train_iterator`): this process's shard of the records -> shuffle (seeded, reshuffled
every epoch) -> repeat -> decode, radiometry, speckle/geometric augmentation, CLIP resize/crop/
normalise, one caption drawn at random and tokenized -> batch (remainder dropped). Every random
draw comes from Grain's per-position generator, so a position always yields the same example:
the iterator's state (`get_state` / Orbax's grain handler) resumes batch for batch.

Records left out of training: `exclude` names an overlap.json written by `sarclip data overlap`
(its `exclude` list: training records that are copies of evaluation images) or a JSON list of
record indices; `exclude_sources` leaves out every record of the named sources (the records'
`source` field, read once at start: leave-one-source-out training). They are removed before
sharding, so the shards, the shuffle and a resumed run stay deterministic; the counts are logged.

Bad records in training: a record that cannot be read, decoded or turned into a finite image is
replaced by the next readable record of the process's shard (in source order), drawn with the
same per-position generator, so batches keep their size and a resumed run still sees the same
batches. Each replacement is logged (record, cause) and counted per process (`bad_record_count`);
MAX_BAD_IN_A_ROW unreadable records in a row stop the run with BadDataError.

Evaluation (`eval_iterator`): every record exactly once, in dataset order, no augmentation; the
last batches are padded and a `mask` marks the real examples. Global batch b is records
[b * G, (b + 1) * G) with G = per-process batch x process count, process p holding the p-th
slice of each, so a gather over processes restores dataset order. A record that cannot be read
is counted, not scored: `bad` is True and `mask` False (its `index` is kept, unlike padding's -1,
and `error` holds the reason). The batching, slicing and masking are `sarclip_jax.data.batching`'s,
shared with the evaluators; this module adds the TFDS fields (`EvalFields`). Text labels (sarclip1m's class words) need the vocabulary: `classes=[...]`.

Config snippet (the trainer's `data_fn`):

    cfg = PipelineConfig(dataset="sarclip1m/synthetic", data_dir="~/tensorflow_datasets",
                         image_size=224, tokenizer="clip", num_workers=4)
    data_fn = make_data_fn(cfg)   # data_fn(global_batch, shard_index, shard_count, seed)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from sarclip_jax.data import batching, records, sar_augment, sar_radiometry, sar_transforms, tfds_source
from sarclip_jax.text.caption_ids import caption_id_pair, label_id_pair

# Unreadable training records in a row after which the run stops: one damaged file is replaced,
# a run of them means the dataset or its storage is broken.
MAX_BAD_IN_A_ROW = 32


class BadDataError(RuntimeError):
    """Too many unreadable records in a row; names them and the last cause."""


BAD_RECORDS = batching.BAD_RECORDS  # shared with the evaluators' input pipeline


def bad_record_count() -> int:
    """Bad records met by the pipelines of this process (training replacements and eval failures)."""
    return BAD_RECORDS.count


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    dataset: str = "sarclip1m/synthetic"  # TFDS "name/config"
    data_dir: str | None = None
    split: str = "train"
    image_size: int = 224
    tokenizer: str = "clip"  # a build_tokenizer spec; built inside each worker process
    context_length: int = 77
    radiometry: sar_radiometry.Radiometry = dataclasses.field(default_factory=sar_radiometry.Radiometry)
    augment: sar_augment.Augment = dataclasses.field(default_factory=sar_augment.Augment)
    num_workers: int = 0  # 0: decode in the calling process; >0: Grain worker processes
    worker_buffer_size: int = 2  # batches each worker process keeps ready
    read_threads: int = 2  # threads each preparing a whole batch (per process / per worker)
    prefetch_batches: int = 2  # batches prepared ahead by those threads (bounds host memory)
    max_captions: int = 5  # eval: captions per image kept (padded, with a mask)
    # train: relative weight of each caption kind when one caption is drawn per image (kinds not
    # named weigh 1; empty: uniform over the image's captions), e.g. {"counting": 2, "general": 0.5}
    caption_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    # train: captions drawn per image (without replacement while the record has them). > 1: each
    # example's "text" is (K, L) and its "caption_ids" (K, 2); the step encodes the image once and
    # takes all K captions as its positives (StepConfig, docs/training.md "Captions per image").
    captions_per_image: int = 1
    exclude: str = ""  # train: an overlap.json (or a JSON list of record indices) to leave out
    exclude_sources: tuple[str, ...] = ()  # train: source datasets left out (leave-one-source-out)
    caption_ids: bool = False  # train: batches also carry "caption_ids", (B, 2) int32 (multi-positive losses)
    # train: batches also carry "label_ids", (B, 2) int32 ids of the records' labels (loss.label_weight);
    # a record without a label gets its caption's id, so its group is its own text.
    label_ids: bool = False
    # train: MiB of parsed records and decoded images kept per process, so later epochs skip TFDS
    # parsing and image decoding (most of a small image's cost); 0: off. Values are unchanged.
    record_cache_mib: float = 0.0
    mean: tuple[float, float, float] = sar_transforms.OPENAI_MEAN
    std: tuple[float, float, float] = sar_transforms.OPENAI_STD

    def __post_init__(self):
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {self.image_size}")
        if self.num_workers < 0 or self.read_threads < 1 or self.prefetch_batches < 0:
            raise ValueError(f"need num_workers >= 0, read_threads >= 1, prefetch_batches >= 0; got "
                             f"{self.num_workers}, {self.read_threads}, {self.prefetch_batches}")
        if not (np.isfinite(self.record_cache_mib) and self.record_cache_mib >= 0):
            raise ValueError(f"record_cache_mib must be finite and >= 0, got {self.record_cache_mib}")
        if self.captions_per_image < 1:
            raise ValueError(f"captions_per_image must be >= 1, got {self.captions_per_image}")
        if self.max_captions < 1:
            raise ValueError(f"max_captions must be >= 1, got {self.max_captions}")
        bad = {k: w for k, w in dict(self.caption_weights).items() if not (np.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(f"caption_weights must be finite and >= 0, got {bad}")

    @classmethod
    def from_dict(cls, d: Any) -> PipelineConfig:
        """From a plain dict / ConfigDict; `radiometry` and `augment` may be dicts too."""
        d = dict(d)
        if isinstance(d.get("radiometry"), dict) or hasattr(d.get("radiometry"), "to_dict"):
            d["radiometry"] = sar_radiometry.Radiometry(**_plain(d["radiometry"]))
        if isinstance(d.get("augment"), dict) or hasattr(d.get("augment"), "to_dict"):
            d["augment"] = sar_augment.Augment(**_plain(d["augment"]))
        if hasattr(d.get("caption_weights"), "to_dict"):
            d["caption_weights"] = d["caption_weights"].to_dict()
        if "caption_weights" in d:
            d["caption_weights"] = {str(k): float(w) for k, w in dict(d["caption_weights"]).items()}
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"unknown data config keys {unknown} (probably a typo); known: {sorted(fields)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _plain(d) -> dict:
    d = d.to_dict() if hasattr(d, "to_dict") else dict(d)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def data_source(cfg: PipelineConfig, split: str | None = None):
    """The random-access TFDS source (array_record) of `cfg.dataset`, from its prepared files."""
    return tfds_source.open_source(cfg.dataset, split or cfg.split, cfg.data_dir)


class _Tokenize:
    """Builds the tokenizer lazily, once per process, so the pipeline pickles into Grain workers."""

    def __init__(self, tokenizer: str | Callable, context_length: int):
        self.spec = tokenizer
        self.context_length = context_length
        self._tok = None if isinstance(tokenizer, str) else tokenizer

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._tok is None:
            from sarclip_jax.text.tokenizer import build_tokenizer

            self._tok = build_tokenizer(self.spec, self.context_length)
        return np.asarray(self._tok(texts), np.int32)

    def __getstate__(self):
        state = dict(self.__dict__)
        if isinstance(self.spec, str):
            state["_tok"] = None
        return state


def excluded_indices(cfg: PipelineConfig, num_records: int) -> np.ndarray:
    """Sorted training record indices that `cfg.exclude` leaves out (empty without one)."""
    if not cfg.exclude:
        return np.zeros(0, np.int64)
    import json

    from etils import epath

    path = epath.Path(cfg.exclude)
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"data.exclude={cfg.exclude}: not a readable JSON file ({type(e).__name__}: {e})") from e
    if isinstance(content, dict):  # an overlap.json: check it was made for this training split
        train = content.get("train", {})
        if train.get("dataset") not in (None, cfg.dataset) or train.get("split") not in (None, cfg.split):
            raise ValueError(f"data.exclude={cfg.exclude} lists records of {train.get('dataset')} "
                             f"({train.get('split')}), not of {cfg.dataset} ({cfg.split})")
        content = content.get("exclude", [])
    indices = np.unique(np.asarray(content, np.int64))
    if indices.size and (indices[0] < 0 or indices[-1] >= num_records):
        raise ValueError(f"data.exclude={cfg.exclude}: record index out of range [0, {num_records})")
    return indices


def source_indices(source, names: Sequence[str]) -> np.ndarray:
    """Sorted indices of the records whose `source` field is one of `names` (a scan of the split)."""
    if not names:
        return np.zeros(0, np.int64)
    wanted = set(names)
    found = [i for i, name in enumerate(source_names(source)) if name in wanted]
    if not found:
        import logging

        logging.getLogger(__name__).warning("data.exclude_sources=%s: no record of these sources in the split",
                                            sorted(wanted))
    return np.asarray(found, np.int64)


def source_names(source, chunk: int = 4096) -> Iterator[str]:
    """Each record's `source` field, in index order. A TFDS array_record source is read as raw
    serialized examples of which only that field is parsed, 8x faster than decoding each record
    (`bench/source_scan.py`, docs/performance.md): what every process pays at start."""
    from tensorflow_datasets.core.data_sources import array_record

    if not isinstance(source, array_record.ArrayRecordDataSource):
        yield from (records.text_of(source[i].get("source", "")) for i in range(len(source)))
        return
    import tensorflow_datasets as tfds
    from tensorflow_datasets.proto import tf_example_pb2

    raw = array_record.ArrayRecordDataSource(source.dataset_info, source.split,
                                             deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    for start in range(0, len(raw), chunk):
        for serialized in raw.__getitems__(range(start, min(start + chunk, len(raw)))):
            field = tf_example_pb2.Example.FromString(serialized).features.feature.get("source")
            values = field.bytes_list.value if field is not None else ()
            yield values[0].decode("utf-8") if values else ""


class TrainTransform:
    """position in this process's shard, rng -> {"image": (S, S, 3) float32, "text": (L,) int32, or
    (K, L) with K = captions_per_image}.
    A bad record is replaced by the next readable one of the shard (see the module docstring)."""

    def __init__(self, cfg: PipelineConfig, source, tokenizer: str | Callable | None = None, shard_index: int = 0,
                 shard_count: int = 1, shard: Sequence[int] | None = None):
        self.cfg, self.source = cfg, source
        # The source indices of this process's shard, in source order.
        self.shard = np.asarray(range(shard_index, len(source), shard_count) if shard is None else shard, np.int64)
        self.shard_len = len(self.shard)
        self.tokenize = _Tokenize(tokenizer if tokenizer is not None else cfg.tokenizer, cfg.context_length)
        self._cache: dict[int, tuple[dict, tuple[np.ndarray, str]]] = {}
        self._cache_left = int(cfg.record_cache_mib * 2**20)  # bytes

    def prepare(self, record: dict, rng: np.random.Generator,
                decoded: tuple[np.ndarray, str] | None = None) -> tuple[list[str], np.ndarray]:
        cfg = self.cfg
        # The captions are drawn first, so the choice does not depend on the augmentation settings.
        captions = sar_transforms.pick_captions(record, rng, cfg.captions_per_image, cfg.caption_weights)
        image = sar_transforms.image_for_model(record, cfg.image_size, cfg.radiometry, cfg.augment, rng,
                                               cfg.mean, cfg.std, decoded=decoded)
        if not np.all(np.isfinite(image)):
            raise ValueError("non-finite pixels after preprocessing")
        return captions, image

    def _decode(self, j: int, record: dict) -> tuple[np.ndarray, str]:
        """The record's decoded image, kept in the record cache (with the record's other fields)
        while it has room: later epochs then skip parsing and decoding."""
        decoded = records.decode_image(record)
        if self._cache_left > 0:
            kept = {k: v for k, v in record.items() if k != "image"}
            size = decoded[0].nbytes + _approx_nbytes(kept)
            if size <= self._cache_left:  # reader threads may race here: at worst one record is counted twice
                decoded[0].setflags(write=False)  # shared by every later draw: no transform may edit it
                self._cache[j] = (kept, decoded)
                self._cache_left -= size
        return decoded

    def __getstate__(self):
        state = dict(self.__dict__)  # worker processes start with an empty cache of their own
        state["_cache"], state["_cache_left"] = {}, int(self.cfg.record_cache_mib * 2**20)
        return state

    def __call__(self, position: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        tried, last = [], None
        for k in range(min(MAX_BAD_IN_A_ROW, self.shard_len)):
            j = int(self.shard[(position + k) % self.shard_len])
            record = None
            try:
                if j in self._cache:
                    record, decoded = self._cache[j]
                else:
                    record = self.source[j]
                    decoded = self._decode(j, record)
                captions, image = self.prepare(record, rng, decoded)
            except Exception as e:  # decoders and sources raise many types on damaged data
                tried.append(batching.record_name(record, j))
                BAD_RECORDS.add("training", tried[-1], e)
                last = e
                continue
            one = self.cfg.captions_per_image == 1  # (L,) text and (2,) ids, else (K, L) and (K, 2)
            tokens = self.tokenize(captions)
            example = {"image": image, "text": tokens[0] if one else tokens}
            if self.cfg.caption_ids:  # which captions are the same text: loss.positives="text"
                ids = np.stack([caption_id_pair(c) for c in captions])
                example["caption_ids"] = ids[0] if one else ids
            if self.cfg.label_ids:  # which records share a class: loss.label_weight > 0 (one per image)
                label = record.get("label")
                label = "" if label is None else records.text_of(label)  # a class number 0 is a label
                example["label_ids"] = label_id_pair(label) if label else caption_id_pair(captions[0])
            return example
        raise BadDataError(f"{len(tried)} training records in a row are unreadable ({', '.join(tried)}); "
                           f"last cause: {type(last).__name__}: {last}") from last


def _approx_nbytes(value) -> int:
    """Host bytes a parsed record's field holds, roughly (arrays, byte strings, and their lists)."""
    if isinstance(value, (bytes, str)):
        return len(value) + 40
    if isinstance(value, np.ndarray):
        return value.nbytes + (sum(map(_approx_nbytes, value.flat)) if value.dtype == object else 0) + 112
    if isinstance(value, dict):
        return sum(_approx_nbytes(k) + _approx_nbytes(v) for k, v in value.items()) + 64
    if isinstance(value, (list, tuple)):
        return sum(map(_approx_nbytes, value)) + 56
    return 32


def _iterate(ds, cfg: PipelineConfig, batch_size: int, drop_remainder: bool):
    """MapDataset of examples -> IterDataset of batches (`batching.batched`, cfg's worker settings)."""
    return batching.batched(ds, batch_size, drop_remainder=drop_remainder, workers=cfg.num_workers,
                            read_threads=cfg.read_threads, prefetch_batches=cfg.prefetch_batches,
                            worker_buffer_size=cfg.worker_buffer_size)


def train_dataset(source, cfg: PipelineConfig, global_batch: int, shard_index: int = 0, shard_count: int = 1,
                  seed: int = 0, tokenizer: str | Callable | None = None):
    """The training IterDataset of this process (its share of each global batch)."""
    import grain

    if global_batch % shard_count:
        raise ValueError(f"global batch {global_batch} is not divisible by the {shard_count} processes")
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} out of range for {shard_count} processes")
    per_process = global_batch // shard_count
    excluded = np.union1d(excluded_indices(cfg, len(source)), source_indices(source, cfg.exclude_sources))
    kept = np.setdiff1d(np.arange(len(source)), excluded)
    if excluded.size and shard_index == 0:
        import logging

        logging.getLogger(__name__).info("data.exclude / exclude_sources: %d of %d training records left out",
                                         excluded.size, len(source))
    shard = kept[shard_index::shard_count]
    if len(shard) == 0:
        raise ValueError(f"process {shard_index} of {shard_count} has no record ({len(kept)} in the split"
                         f"{f' after {excluded.size} excluded' if excluded.size else ''})")
    # Positions in this process's shard; the transform maps them to source indices, so that it can
    # replace a bad record with the next one of the shard.
    ds = grain.MapDataset.range(len(shard))
    ds = ds.shuffle(seed=seed).repeat()
    # Each process draws its own augmentations: with one seed everywhere, position i of every
    # process would get the same caption index and the same speckle field.
    draw_seed = int(np.random.SeedSequence([seed, shard_index]).generate_state(1)[0])
    ds = ds.random_map(TrainTransform(cfg, source, tokenizer, shard_index, shard_count, shard), seed=draw_seed)
    return _iterate(ds, cfg, per_process, drop_remainder=True)


def train_iterator(source, cfg: PipelineConfig, global_batch: int, shard_index: int = 0, shard_count: int = 1,
                   seed: int = 0, tokenizer: str | Callable | None = None):
    """A checkpointable iterator (`get_state` / `set_state`) of numpy training batches."""
    return iter(train_dataset(source, cfg, global_batch, shard_index, shard_count, seed, tokenizer))


def make_data_fn(cfg: PipelineConfig, tokenizer: str | Callable | None = None):
    """The trainer's `data_fn(global_batch, shard_index, shard_count, seed)`."""

    def data_fn(global_batch: int, shard_index: int, shard_count: int, seed: int):
        return train_iterator(data_source(cfg), cfg, global_batch, shard_index, shard_count, seed, tokenizer)

    return data_fn


# --- evaluation ---------------------------------------------------------------------------------

class LabelVocabularyError(ValueError):
    """Text labels without a vocabulary to number them."""


class EvalFields:
    """A record -> its eval fields (`batching.eval_dataset`'s prepare): the model image, and the
    label or up to max_captions tokenized captions with their mask. Picklable; the tokenizer is
    built once per process."""

    def __init__(self, cfg: PipelineConfig, fields: str, tokenizer: str | Callable | None = None,
                 classes: Sequence[str] | None = None):
        if fields not in ("captions", "label"):
            raise ValueError(f"eval fields must be 'captions' or 'label', got {fields!r}")
        self.cfg, self.fields = cfg, fields
        self.classes = {str(name): k for k, name in enumerate(classes)} if classes is not None else None
        self.tokenize = _Tokenize(tokenizer if tokenizer is not None else cfg.tokenizer, cfg.context_length)

    def label(self, record: dict) -> int:
        raw = record["label"]
        if isinstance(raw, (int, np.integer)):  # a ClassLabel
            return int(raw)
        name = records.text_of(raw).strip()
        if self.classes is None:
            raise LabelVocabularyError(f"the dataset's labels are text (e.g. {name!r}): pass classes=[...], "
                                       "the label vocabulary, to number them")
        if name not in self.classes:
            raise KeyError(f"label {name!r} is not one of the {len(self.classes)} classes")
        return self.classes[name]

    def blank(self) -> dict[str, np.ndarray]:
        """The fields of padding and of bad records."""
        cfg = self.cfg
        out = {"image": np.zeros((cfg.image_size, cfg.image_size, 3), np.float32)}
        if self.fields == "label":
            return {**out, "label": np.asarray(-1, np.int32)}
        return {**out, "text": np.zeros((cfg.max_captions, cfg.context_length), np.int32),
                "text_mask": np.zeros(cfg.max_captions, np.bool_)}

    def __call__(self, record: dict) -> dict[str, np.ndarray]:
        cfg = self.cfg
        image = sar_transforms.image_for_model(record, cfg.image_size, cfg.radiometry, None, None, cfg.mean, cfg.std)
        if not np.all(np.isfinite(image)):
            raise ValueError("non-finite pixels after preprocessing")
        if self.fields == "label":
            return {"image": image, "label": np.asarray(self.label(record), np.int32)}
        captions = records.captions_of(record)[:cfg.max_captions]
        text = np.zeros((cfg.max_captions, cfg.context_length), np.int32)
        if captions:
            try:
                text[:len(captions)] = self.tokenize(captions)
            except Exception as e:  # a tokenizer that cannot be built or run is a set-up error, not a bad record
                raise TokenizerError(f"tokenizer {self.tokenize.spec!r} failed: {type(e).__name__}: {e}") from e
        return {"image": image, "text": text, "text_mask": np.arange(cfg.max_captions) < len(captions)}


class TokenizerError(RuntimeError):
    """The eval tokenizer failed; stops the run instead of marking every record bad."""


def eval_dataset(source, cfg: PipelineConfig, batch_size: int, shard_index: int = 0, shard_count: int = 1,
                 fields: str = "captions", tokenizer: str | Callable | None = None,
                 classes: Sequence[str] | None = None):
    """This process's eval IterDataset (`batching.eval_dataset` with `EvalFields`): `batch_size`
    examples per batch, every record seen once over all processes, padded with mask=False; all
    processes yield the same number of batches."""
    prepare = EvalFields(cfg, fields, tokenizer, classes)
    return batching.eval_dataset(source, prepare, prepare.blank(), batch_size, shard_index, shard_count,
                                 workers=cfg.num_workers, read_threads=cfg.read_threads,
                                 prefetch_batches=cfg.prefetch_batches, worker_buffer_size=cfg.worker_buffer_size,
                                 fatal=(LabelVocabularyError, TokenizerError))


def eval_iterator(source, cfg: PipelineConfig, batch_size: int, shard_index: int = 0, shard_count: int = 1,
                  fields: str = "captions", tokenizer: str | Callable | None = None,
                  classes: Sequence[str] | None = None):
    return iter(eval_dataset(source, cfg, batch_size, shard_index, shard_count, fields, tokenizer, classes))
