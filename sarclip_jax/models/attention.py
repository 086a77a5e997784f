"""Scaled dot-product attention with a choice of kernel, selected by the model config.

    out = attend(q, k, v, causal=True, implementation="xla")   # q, k, v: (batch, length, heads, head_dim)

- "xla": `jax.nn.dot_product_attention`'s portable XLA path (scores in float32, softmax in
  float32, probabilities in the compute dtype); runs everywhere and is the default.
- "cudnn": the same function's cuDNN fused (flash) attention, for CUDA GPUs in bfloat16/float16.
- "pallas": the Pallas TPU flash-attention kernel, which never materialises the (length, length)
  scores in HBM. It needs lengths in multiples of its 128-token tiles, so the sequence is padded
  and padded keys are masked out with segment ids. Under a mesh it runs per device shard
  (`sharding.per_shard`), since the compiler cannot partition a custom kernel.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from sarclip_jax import sharding

IMPLEMENTATIONS = ("xla", "cudnn", "pallas")
PALLAS_TILE = 128  # the kernel's default tile; key lengths must be multiples of it


def attend(q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool, implementation: str = "xla") -> jax.Array:
    """softmax(q k^T / sqrt(head_dim) [+ causal mask]) v, shaped like q."""
    if implementation in ("xla", "cudnn"):
        return jax.nn.dot_product_attention(q, k, v, is_causal=causal, implementation=implementation)
    if implementation == "pallas":
        # A Pallas kernel is opaque to GSPMD: run it on each device's batch and head shard.
        flash = functools.partial(_pallas_flash, causal=causal)
        return sharding.per_shard(flash, ("batch", "length", "act_heads", None), q, k, v)
    raise ValueError(f"attention implementation {implementation!r} is not one of {list(IMPLEMENTATIONS)}")


def _pallas_flash(q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool) -> jax.Array:
    from jax.experimental.pallas.ops.tpu import flash_attention as fa

    length, head_dim = q.shape[1], q.shape[-1]
    padded = math.ceil(length / PALLAS_TILE) * PALLAS_TILE

    def to_kernel(x):  # (batch, length, heads, dim) -> (batch, heads, padded, dim)
        return jnp.pad(x, ((0, 0), (0, padded - length), (0, 0), (0, 0))).swapaxes(1, 2)

    segments = None
    if padded != length:
        # Real tokens are segment 1, padding segment 0: a real query never sees a padded key.
        ids = (jnp.arange(padded) < length).astype(jnp.int32)
        ids = jnp.broadcast_to(ids, (q.shape[0], padded))
        segments = fa.SegmentIds(q=ids, kv=ids)
    out = fa.flash_attention(to_kernel(q), to_kernel(k), to_kernel(v), segment_ids=segments, causal=causal,
                             sm_scale=head_dim**-0.5)
    return out.swapaxes(1, 2)[:, :length]
