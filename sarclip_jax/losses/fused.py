"""Contrastive losses that never hold the global B x B logit matrix.

Each device keeps its own image embeddings; the text embeddings travel round a ring of devices
and are met in column tiles (`fused_ring.py`, a `custom_vjp` that recomputes tiles in the
backward pass). The tile is chosen from the per-device batch and the memory the loss may use
(`tiling.choose`); where the per-device rows of the plain computation fit that memory, the plain
computation runs instead (`fused_dense.py`): exact, and cheaper for small per-device batches.

    loss, metrics = fused_clip_loss(img, txt, logit_scale, mesh=mesh)   # inside jax.jit
    loss, metrics = fused_clip_loss(img, txt, logit_scale, mesh=mesh, caption_ids=ids)

With `caption_ids` ((B, 2) int32 halves of a 64-bit caption hash, or (B,) int64 under x64), a
pair is positive when the caption's id equals the image's own caption's id: repeated captions
are not negatives (`reference.clip_loss` defines the multi-positive form). The ids travel round
the ring with their texts; memory per device is unchanged. On one device (mesh=None) the same
code runs with a ring of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from sarclip_jax.losses import tiling
from sarclip_jax.losses.fused_dense import clip_dense, siglip_dense
from sarclip_jax.losses.fused_ring import clip_ring, siglip_ring
from sarclip_jax.losses.reference import logit_scale_value
from sarclip_jax.losses.ring import F32, Ring, own_keys

DEFAULT_BLOCK_SIZE = None  # chosen from the per-device batch and `memory_bytes`


def _local(ring_fn, dense_fn, ring: Ring, dense: bool):
    def fn(images, texts, keys, *scalars):
        keys = own_keys(keys, ring, images.shape[0])
        return (dense_fn if dense else ring_fn)(images, texts, keys, *scalars, ring)

    return fn


def _run(ring_fn, dense_fn, mesh: Mesh | None, batch_axes: Sequence[str], block_size: int | None,
         memory_bytes: int, arrays, caption_ids, scalars):
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be positive (or None to choose it), got {block_size}")
    batch, dim = arrays[0].shape
    if caption_ids is not None and caption_ids.shape[0] != batch:
        raise ValueError(f"caption_ids has {caption_ids.shape[0]} rows for a batch of {batch}")
    axes = tuple(a for a in batch_axes if a in mesh.axis_names) if mesh is not None else ()
    size = math.prod(mesh.shape[a] for a in axes) if axes else 1
    if batch % size:
        raise ValueError(f"global batch {batch} is not divisible by the {size} devices of mesh axes {axes}")
    if block_size is None:
        block_size = tiling.choose(batch // size, size, dim, arrays[0].dtype.itemsize, memory_bytes)
    dense = block_size == tiling.DENSE
    ring = Ring(axes or None, size, max(block_size, 1))
    fn = _local(ring_fn, dense_fn, ring, dense)
    if caption_ids is not None and caption_ids.ndim == 1:
        caption_ids = caption_ids[:, None]
    if mesh is None:
        return fn(*arrays, caption_ids, *scalars)
    spec = P(axes or None)
    sharded = jax.shard_map(fn, mesh=mesh, in_specs=(spec,) * len(arrays) + (spec,) + (P(),) * len(scalars),
                            out_specs=(P(), P(), P()))
    return sharded(*arrays, caption_ids, *scalars)


def fused_clip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array, *,
                    caption_ids: jax.Array | None = None, mesh: Mesh | None = None,
                    batch_axes: Sequence[str] = ("data", "fsdp"), block_size: int | None = DEFAULT_BLOCK_SIZE,
                    memory_bytes: int = tiling.DEFAULT_MEMORY_BYTES) -> tuple[jax.Array, dict[str, jax.Array]]:
    """CLIP's symmetric softmax loss (equal to `reference.clip_loss`), plus in-batch accuracies.

    The batch axis of the embeddings is split over `batch_axes` of `mesh` (those it has).
    `block_size` forces the ring with that tile; None chooses from `memory_bytes` per device.
    """
    scale = logit_scale_value(logit_scale)
    loss, i2t, t2i = _run(clip_ring, clip_dense, mesh, batch_axes, block_size, memory_bytes,
                          (image_emb, text_emb), caption_ids, (scale,))
    return loss, {"image_to_text_accuracy": i2t, "text_to_image_accuracy": t2i}


def fused_siglip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array, logit_bias: jax.Array, *,
                      caption_ids: jax.Array | None = None, mesh: Mesh | None = None,
                      batch_axes: Sequence[str] = ("data", "fsdp"), block_size: int | None = DEFAULT_BLOCK_SIZE,
                      memory_bytes: int = tiling.DEFAULT_MEMORY_BYTES) -> tuple[jax.Array, dict[str, jax.Array]]:
    """SigLIP's sigmoid loss (equal to `reference.siglip_loss`): every positive pair labelled +1."""
    scale = logit_scale_value(logit_scale)
    bias = logit_bias.astype(F32)
    loss, i2t, t2i = _run(siglip_ring, siglip_dense, mesh, batch_axes, block_size, memory_bytes,
                          (image_emb, text_emb), caption_ids, (scale, bias))
    return loss, {"image_to_text_accuracy": i2t, "text_to_image_accuracy": t2i}
