"""Embeds evaluation images and texts in fixed-size batches, counting images that fail to load.

Images are read and prepared by a thread pool one batch ahead of the model (PIL and numpy
release the GIL), every batch is padded to `batch_size` so the forward pass compiles once, and
with a mesh each batch is split over its data axes. An image that cannot be read or prepared is
left out and listed, never replaced by zeros: the official SARCLIP scripts score such an image
as a black picture, which silently moves the numbers.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from sarclip_jax.data import sar_radiometry
from sarclip_jax.evaluation import images as images_lib
from sarclip_jax.evaluation.images import DEFAULT_RADIOMETRY
from sarclip_jax.evaluation.sources import Item
from sarclip_jax.models import encode


@dataclasses.dataclass
class Timings:
    """Seconds spent, summed over a run. `input_s` is the time the model waited for images (the
    reading itself overlaps the model); `first_batch_s` is the model's first image batch
    (tracing and compilation on a fresh process), kept out of `model_s`."""

    input_s: float = 0.0
    first_batch_s: float = 0.0
    model_s: float = 0.0
    text_s: float = 0.0
    metric_s: float = 0.0
    images: int = 0

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


def _put_on_mesh(batch: np.ndarray, mesh):
    if mesh is None:
        return batch
    import jax

    from sarclip_jax import sharding

    spec = sharding.batch_sharding(mesh)
    shards = int(np.prod([mesh.shape[a] for a in sharding.BATCH_AXES]))
    if len(batch) % shards:
        raise ValueError(f"batch_size {len(batch)} does not split over the mesh's {shards} data shards")
    return jax.device_put(batch, spec)


def embed_for(evaluator, model, items: Sequence[Item], timings: Timings) -> ImageEmbeddings:
    """`items` embedded with an evaluator's image settings (cfg, radiometry, mesh); an error
    naming the evaluator and dataset when not one image could be read."""
    cfg = evaluator.cfg
    out = embed_images(model, items, batch_size=cfg.batch_size, pipeline=cfg.image_pipeline,
                       radiometry=evaluator.radiometry, workers=cfg.workers, mesh=evaluator._mesh, timings=timings)
    if len(items) and not out.ok.any():
        raise RuntimeError(f"{evaluator.name}: no image of {evaluator.data.dataset} could be loaded; first failures: "
                           f"{out.failures[:3]}")
    return out


def embed_images(model, items: Sequence[Item], *, batch_size: int, pipeline: str = "sar",
                 radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY, workers: int = 2,
                 mesh=None, timings: Timings | None = None) -> ImageEmbeddings:
    size = model.config.vision.image_size
    timings = timings if timings is not None else Timings()
    batches = [items[s:s + batch_size] for s in range(0, len(items), batch_size)]
    ok = np.zeros(len(items), bool)
    failures, outputs = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        def submit(batch):
            return [pool.submit(images_lib.guarded, item.load, size, pipeline, radiometry) for item in batch]

        upcoming = submit(batches[0]) if batches else []
        for b, batch in enumerate(batches):
            # The next batch is queued before this one is awaited, so reading runs ahead of the model.
            current, upcoming = upcoming, (submit(batches[b + 1]) if b + 1 < len(batches) else [])
            t0 = time.perf_counter()
            prepared = []
            for j, future in enumerate(current):
                try:
                    prepared.append(future.result())
                    ok[b * batch_size + j] = True
                except images_lib.ImageLoadError as e:
                    failures.append((batch[j].key, str(e)))
            t1 = time.perf_counter()
            timings.input_s += t1 - t0
            if not prepared:
                continue
            x = np.zeros((batch_size, size, size, 3), np.float32)  # padding rows are dropped below
            x[:len(prepared)] = np.stack(prepared)
            emb = np.asarray(encode.image_features(model, _put_on_mesh(x, mesh)))[:len(prepared)]
            outputs.append(emb)
            elapsed = time.perf_counter() - t1
            if timings.first_batch_s == 0.0:
                timings.first_batch_s = elapsed
            else:
                timings.model_s += elapsed
            timings.images += len(prepared)
    dim = model.config.embed_dim
    return ImageEmbeddings(np.concatenate(outputs) if outputs else np.zeros((0, dim), np.float32), ok, failures)


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
