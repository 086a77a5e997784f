"""Embeds evaluation images and texts in fixed-size batches, counting images that fail to load.

Images are read and prepared by the Grain eval pipeline (`sarclip_jax.data.batching`) in
`workers` worker processes (0: in this process), so decoding never competes for the GIL with
the thread driving the model; the next batch is fetched while the model runs on the current
one. Every batch is padded to `batch_size`, so the forward pass compiles once, and with a mesh
each batch is split over its data axes. With several JAX processes each embeds its slice of
every global batch and the results are gathered (`process_allgather`), so every process ends
with all embeddings in item order. An image that cannot be read or prepared is left out and
listed, never replaced by zeros: the official SARCLIP scripts score such an image as a black
picture, which silently moves the numbers.

A worker process takes seconds to start (it imports Grain, hence JAX, and unpickles the
source), longer than a few batches take to prepare: a set of fewer than MIN_BATCHES_PER_WORKER
batches per worker gets fewer workers, down to none (`Timings.workers` says how many ran).

Within `with shared_images():` (one evaluation round, in which the model does not change: the
training loop's and `sarclip eval`'s), evaluators that embed the same images with the same
settings for the same model share one pass, as the main job's retrieval and zero-shot jobs on
one test split do; the later ones record no image time. Outside it nothing is kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import time
from collections.abc import Sequence

import jax
import numpy as np

from sarclip_jax import sharding
from sarclip_jax.data import batching, sar_radiometry
from sarclip_jax.evaluation import images as images_lib
from sarclip_jax.evaluation.images import DEFAULT_RADIOMETRY
from sarclip_jax.evaluation.sources import Images, Item
from sarclip_jax.models import encode

MIN_BATCHES_PER_WORKER = 4


@dataclasses.dataclass
class Timings:
    """Seconds spent, summed over a run. `input_s` is the time the model waited for images (the
    reading itself overlaps the model); `input_start_s` the wait for each worker's first batch
    (worker start-up; the first batch when reading in this process), kept out of `input_s`; `first_batch_s` is the model's first image batch
    (tracing and compilation on a fresh process), kept out of `model_s`. `workers`: the worker
    processes that read images (0: in this process)."""

    input_s: float = 0.0
    input_start_s: float = 0.0
    first_batch_s: float = 0.0
    model_s: float = 0.0
    text_s: float = 0.0
    metric_s: float = 0.0
    images: int = 0
    workers: int = 0

    def as_dict(self) -> dict[str, float]:
        out = dataclasses.asdict(self)
        steady = self.model_s + self.input_s
        out["images_per_s_steady"] = (self.images / steady) if steady > 0 else 0.0
        return out


@dataclasses.dataclass(frozen=True)
class ImageEmbeddings:
    embeddings: np.ndarray  # (loaded, dim), in item order
    ok: np.ndarray  # (items,) bool
    failures: list[tuple[str, str]]  # (item key, reason)


def _spans_processes(mesh) -> bool:
    return mesh is not None and any(d.process_index != jax.process_index() for d in mesh.devices.flat)


def _check_mesh(mesh, batch_size: int, processes: int) -> None:
    shards = sharding.batch_divisor(mesh)
    if (batch_size * processes) % shards:
        per = f"batch_size {batch_size}" + (f" x {processes} processes" if processes > 1 else "")
        raise ValueError(f"{per} does not split over the mesh's {shards} data shards")


def _forward(model, x: np.ndarray, mesh, spans: bool):
    """The model on one batch, dispatched (not awaited); rows come back in x's order."""
    if mesh is None:
        return encode.image_features(model, x)
    spec = sharding.batch_sharding(mesh)
    if not spans:
        return encode.image_features(model, jax.device_put(x, spec))
    from jax.experimental import multihost_utils

    # A mesh over several processes: this process's rows go in, and come back out, as its part
    # of the global batch.
    out = encode.image_features(model, multihost_utils.host_local_array_to_global_array(x, mesh, spec.spec))
    return multihost_utils.global_array_to_host_local_array(jax.device_put(out, spec), mesh, spec.spec)


_ROUND: contextvars.ContextVar[dict | None] = contextvars.ContextVar("shared_images", default=None)


@contextlib.contextmanager
def shared_images():
    """A scope (one evaluation round) within which evaluators embedding the same images alike for
    the same model share one pass."""
    token = _ROUND.set({})
    try:
        yield
    finally:
        _ROUND.reset(token)


def embed_for(evaluator, model, items: Sequence[Item], timings: Timings, data=None) -> ImageEmbeddings:
    """`items` (of `data`, an EvalSet; default the evaluator's) embedded with an evaluator's image
    settings (cfg, radiometry, mesh), or, within `shared_images()`, the pass another evaluator
    made of the same images alike for this model (a dataset name, split and data_dir name one set
    of records); an error naming the evaluator and dataset when not one image could be read."""
    cfg, data = evaluator.cfg, data or evaluator.data
    shared = _ROUND.get()
    if shared is None:
        shared = {}
    key = (model, data.dataset, data.split, cfg.get("data_dir"), cfg.batch_size, cfg.image_pipeline,
           evaluator.radiometry, evaluator.mesh, tuple((i.image.kind, i.image.where, i.image.float_scale) for i in items))
    if key in shared:
        return shared[key]
    out = embed_images(model, items, batch_size=cfg.batch_size, pipeline=cfg.image_pipeline,
                       radiometry=evaluator.radiometry, workers=cfg.workers, mesh=evaluator.mesh, timings=timings)
    if len(items) and not out.ok.any():
        raise RuntimeError(f"{evaluator.name}: no image of {data.dataset} could be loaded; first failures: "
                           f"{out.failures[:3]}")
    shared[key] = out
    return out


def workers_for(workers: int, batches: int) -> int:
    """Worker processes worth starting for `batches` batches (see the module docstring)."""
    return max(0, min(workers, batches // MIN_BATCHES_PER_WORKER))


def image_batches(items: Sequence[Item], *, size: int, batch_size: int, pipeline: str = "sar",
                  radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY, workers: int = 0,
                  shard_index: int = 0, shard_count: int = 1):
    """The Grain eval dataset of `items`' prepared images for one process (shard): fixed
    `batch_size` batches of {"image", "mask", "bad", "index", "error"} (`batching.eval_dataset`)."""
    prepare = images_lib.Prepare(size, pipeline, radiometry)
    return batching.eval_dataset(Images([item.image for item in items]), prepare, prepare.blank(), batch_size,
                                 shard_index, shard_count, workers=workers)


def embed_images(model, items: Sequence[Item], *, batch_size: int, pipeline: str = "sar",
                 radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY, workers: int = 2,
                 mesh=None, timings: Timings | None = None) -> ImageEmbeddings:
    """Every item's image embedding (on every process), images that fail counted and left out."""
    timings = timings if timings is not None else Timings()
    n, dim = len(items), model.config.embed_dim
    index, count = jax.process_index(), jax.process_count()
    spans = _spans_processes(mesh)
    if mesh is not None:
        _check_mesh(mesh, batch_size, count if spans else 1)
    batches = batching.num_batches(n, batch_size, count)
    used = workers_for(workers, batches)
    timings.workers = max(timings.workers, used)
    ds = image_batches(items, size=model.config.vision.image_size, batch_size=batch_size, pipeline=pipeline,
                       radiometry=radiometry, workers=used, shard_index=index, shard_count=count)

    rows = batches * batch_size  # this process's examples, padding included
    local = dict(position=batching.positions(n, batch_size, index, count), embedding=np.zeros((rows, dim), np.float32),
                 mask=np.zeros(rows, bool), bad=np.zeros(rows, bool),
                 error=np.zeros((rows, batching.ERROR_BYTES), np.uint8))
    pending = None  # (rows, dispatched output, model seconds so far, batch number)

    def finish(job) -> None:
        where, out, spent, b = job
        t0 = time.perf_counter()
        if out is not None:
            local["embedding"][where] = np.asarray(out)
        spent += time.perf_counter() - t0
        if b == 0:
            timings.first_batch_s += spent
        else:
            timings.model_s += spent

    with contextlib.closing(batching.iterate(ds)) as it:
        t0 = time.perf_counter()
        for b, batch in enumerate(it):
            waited = time.perf_counter() - t0
            if b < max(1, used):  # each worker's first batch waits for that worker to start
                timings.input_start_s += waited
            else:
                timings.input_s += waited
            where = slice(b * batch_size, (b + 1) * batch_size)
            for k in ("mask", "bad", "error"):
                local[k][where] = batch[k]
            t1 = time.perf_counter()
            # Dispatched, not awaited: the next batch is fetched while the model runs. A batch with
            # no image to score is skipped, unless the mesh makes every process take part.
            out = _forward(model, batch["image"], mesh, spans) if (spans or batch["mask"].any()) else None
            job = (where, out, time.perf_counter() - t1, b)
            if pending is not None:
                finish(pending)
            pending = job
            t0 = time.perf_counter()
        if pending is not None:
            finish(pending)
    if count > 1:
        from jax.experimental import multihost_utils

        gathered = multihost_utils.process_allgather(local)  # every process's rows, stacked by process
        local = {k: np.asarray(v).reshape(-1, *np.shape(v)[2:]) for k, v in gathered.items()}
    out = in_item_order(local, n)
    timings.images += int(out["mask"].sum())
    failures = [(items[i].key, batching.error_text(out["error"][i])) for i in np.flatnonzero(out["bad"])]
    return ImageEmbeddings(out["embedding"][out["mask"]], out["mask"], failures)


def in_item_order(rows: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Rows of any processes (`position` and per-row fields, in any order) -> each field of the n
    items in item order; padding rows (position >= n) are dropped. An error unless every item
    comes exactly once, either scored (`mask`) or counted as failed (`bad`)."""
    real = rows["position"] < n
    order = rows["position"][real]
    if not np.array_equal(np.sort(order), np.arange(n)):
        raise RuntimeError(f"eval input gave {len(order)} rows for {n} items, not one per item")
    out = {}
    for k, v in rows.items():
        if k != "position":
            out[k] = np.zeros((n, *v.shape[1:]), v.dtype)
            out[k][order] = v[real]
    if np.any(out["mask"] == out["bad"]):
        raise RuntimeError("eval input: an item is neither scored nor counted as failed, or both")
    return out


def embed_texts(model, texts: Sequence[str], tokenizer, *, batch_size: int, timings: Timings | None = None
                ) -> np.ndarray:
    t0 = time.perf_counter()
    if not texts:
        return np.zeros((0, model.config.embed_dim), np.float32)
    ids = np.asarray(tokenizer(list(texts)), np.int32)
    out = encode.batched(lambda x: encode.text_features(model, x), ids, batch_size)
    if timings is not None:
        timings.text_s += time.perf_counter() - t0
    return out


def build_tokenizer(spec, model):
    """The tokenizer for `model`: `spec` (a tokenizer object or a build_tokenizer spec), else the
    model's own (its directory's), else CLIP's BPE; one with more ids than the model's text tower
    is an error naming both (text.tokenizer.tokenizer_for, the resolution the API shares)."""
    from sarclip_jax.text.tokenizer import tokenizer_for

    return tokenizer_for(model, spec)
