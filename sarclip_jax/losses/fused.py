"""Contrastive losses that never hold the global B x B logit matrix.

Each device keeps its own image embeddings; the text embeddings travel round a ring of devices
(`ppermute`), and each visiting block is met in column tiles of `block_size`. The softmax
normalisers are accumulated online (log-sum-exp), row statistics stay home, column statistics
travel with their block and come home at the end. The backward pass is a `custom_vjp` that runs
the ring again and recomputes each tile from the saved normalisers instead of storing it, so
memory per device is O(B_local x block_size) in both passes.

    loss, metrics = fused_clip_loss(img, txt, logit_scale, mesh=mesh)   # inside jax.jit

On one device (mesh=None) the same code runs with a ring of one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from sarclip_jax.losses.reference import logit_scale_value

F32 = jnp.float32
DEFAULT_BLOCK_SIZE = 1024


class _Ring(NamedTuple):
    axis: tuple[str, ...] | None  # mesh axes the batch is split over; None on one device
    size: int
    block: int

    def index(self):
        return jax.lax.axis_index(self.axis) if self.axis else 0

    def shift(self, tree):
        """Every device passes `tree` to the next one round the ring."""
        if self.size == 1:
            return tree
        perm = [(i, (i + 1) % self.size) for i in range(self.size)]
        return jax.tree.map(lambda x: jax.lax.ppermute(x, self.axis, perm), tree)

    def vary(self, tree):
        """Marks fresh accumulators as per-device values (shard_map's varying-axes typing)."""
        if not self.axis:
            return tree

        def cast(x):
            missing = tuple(a for a in self.axis if a not in jax.typeof(x).manual_axis_type.varying)
            return jax.lax.pcast(x, missing, to="varying") if missing else x

        return jax.tree.map(cast, tree)

    def psum(self, x):
        return jax.lax.psum(x, self.axis) if self.axis else x


# (row_state, col_tile_state, dot, valid, row_ids, col_ids, images, text_tile) -> (row_state, col_tile_state)
TileFn = Callable


def _ring_pass(images, texts, ring: _Ring, tile_fn: TileFn, row_state, col_state):
    """Meets the local images with every device's texts, one (B_local, block) tile at a time.

    `row_state` (leading axis B_local) stays on this device; `col_state` (leading axes
    (n_tiles, block)) belongs to this device's texts, travels with them and is home at the end.
    """
    b = images.shape[0]
    block, n_tiles = _tiling(b, ring.block)
    tiles = _to_tiles(texts, ring.block)
    valid = _to_tiles(jnp.ones((b,), bool), ring.block)  # padding columns are False; same for every block
    me = ring.index()
    row_ids = (me * b + jnp.arange(b)).astype(jnp.int32)
    row_state, col_state = ring.vary((row_state, col_state))

    def visit(row_state, tiles, col_state, step):
        source = (me - step) % ring.size  # whose texts are visiting now

        def tile(row_state, xs):
            text_tile, tile_valid, col_tile, t = xs
            col_ids = (source * b + t * block + jnp.arange(block)).astype(jnp.int32)
            dot = jnp.einsum("id,jd->ij", images, text_tile, preferred_element_type=F32)
            return tile_fn(row_state, col_tile, dot, tile_valid, row_ids, col_ids, images, text_tile)

        return jax.lax.scan(tile, row_state, (tiles, valid, col_state, jnp.arange(n_tiles)))

    def step(carry, k):
        row_state, tiles, col_state = carry
        row_state, col_state = visit(row_state, tiles, col_state, k)
        return (row_state, *ring.shift((tiles, col_state))), None

    (row_state, tiles, col_state), _ = jax.lax.scan(
        step, (row_state, tiles, col_state), jnp.arange(ring.size - 1))
    row_state, col_state = visit(row_state, tiles, col_state, ring.size - 1)
    col_state = ring.shift(col_state)  # the last hop brings each block's statistics home
    return row_state, jax.tree.map(lambda x: x.reshape(n_tiles * block, *x.shape[2:])[:b], col_state)


def _tiling(b: int, block_size: int) -> tuple[int, int]:
    block = min(block_size, b)
    return block, -(-b // block)


def _to_tiles(x, block_size: int):
    """(b, ...) -> (n_tiles, block, ...), zero-padded at the end."""
    block, n_tiles = _tiling(x.shape[0], block_size)
    pad = ((0, n_tiles * block - x.shape[0]),) + ((0, 0),) * (x.ndim - 1)
    return jnp.pad(x, pad).reshape(n_tiles, block, *x.shape[1:])


def _col_init(b: int, block_size: int, *fills):
    block, n_tiles = _tiling(b, block_size)
    return tuple(jnp.full((n_tiles, block), f, dtype) for f, dtype in fills)


def _positives(row_ids, col_ids):
    """1.0 where a tile entry is an image with its own text, else 0.0."""
    return (row_ids[:, None] == col_ids[None, :]).astype(F32)


def _best(best, arg, values, ids, axis):
    """Running arg-max with ties to the lower global index (deterministic whatever the ring order)."""
    m = values.max(axis)
    a = ids[jnp.argmax(values, axis)]
    better = (m > best) | ((m == best) & (a < arg))
    return jnp.where(better, m, best), jnp.where(better, a, arg)


# ----------------------------------------------------------------------------- CLIP softmax loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _clip_local(images, texts, scale, ring: _Ring):
    return _clip_fwd(images, texts, scale, ring)[0]


def _clip_fwd(images, texts, scale, ring: _Ring):
    b = images.shape[0]

    def tile_fn(row, col, dot, valid, row_ids, col_ids, *_):
        row_lse, row_best, row_arg = row
        col_lse, col_best, col_arg = col
        s = jnp.where(valid[None, :], scale * dot, -jnp.inf)
        row_lse = jnp.logaddexp(row_lse, jax.nn.logsumexp(s, axis=1))
        col_lse = jnp.logaddexp(col_lse, jax.nn.logsumexp(s, axis=0))
        row_best, row_arg = _best(row_best, row_arg, s, col_ids, axis=1)
        col_best, col_arg = _best(col_best, col_arg, s, row_ids, axis=0)
        return (row_lse, row_best, row_arg), (col_lse, col_best, col_arg)

    row0 = (jnp.full((b,), -jnp.inf, F32), jnp.full((b,), -jnp.inf, F32), jnp.zeros((b,), jnp.int32))
    col0 = _col_init(b, ring.block, (-jnp.inf, F32), (-jnp.inf, F32), (0, jnp.int32))
    (row_lse, _, row_arg), (col_lse, _, col_arg) = _ring_pass(images, texts, ring, tile_fn, row0, col0)
    positive = scale * jnp.einsum("id,id->i", images, texts, preferred_element_type=F32)
    n_global = b * ring.size
    loss = ring.psum(jnp.sum(row_lse + col_lse - 2 * positive)) / (2 * n_global)
    own = ring.index() * b + jnp.arange(b)
    i2t = ring.psum(jnp.sum(row_arg == own)) / n_global
    t2i = ring.psum(jnp.sum(col_arg == own)) / n_global
    return (loss, i2t, t2i), (images, texts, scale, row_lse, col_lse)


def _clip_bwd(ring: _Ring, residuals, cotangents):
    images, texts, scale, row_lse, col_lse = residuals
    g = cotangents[0]
    b = images.shape[0]

    def tile_fn(row, col, dot, valid, row_ids, col_ids, imgs, text_tile):
        d_images, d_scale = row
        tile_lse, d_text = col
        s = scale * dot
        # d loss / d logits up to the common factor: row softmax + column softmax - 2 on the
        # diagonal. Subtracting in place (not from the sums) keeps the small result accurate.
        w = jnp.exp(s - row_lse[:, None]) + jnp.exp(s - tile_lse[None, :]) - 2.0 * _positives(row_ids, col_ids)
        w = jnp.where(valid[None, :], w, 0.0)
        d_images = d_images + jnp.einsum("ij,jd->id", w.astype(text_tile.dtype), text_tile, preferred_element_type=F32)
        d_text = d_text + jnp.einsum("ij,id->jd", w.astype(imgs.dtype), imgs, preferred_element_type=F32)
        return (d_images, d_scale + jnp.sum(w * dot)), (tile_lse, d_text)

    d = images.shape[1]
    row0 = (jnp.zeros((b, d), F32), jnp.zeros((), F32))
    col0 = (_to_tiles(col_lse, ring.block), _to_tiles(jnp.zeros((b, d), F32), ring.block))
    (d_images, d_scale), (_, d_texts) = _ring_pass(images, texts, ring, tile_fn, row0, col0)
    coef = g / (2 * b * ring.size)  # the loss averages 2 B cross-entropies
    return ((coef * scale * d_images).astype(images.dtype), (coef * scale * d_texts).astype(texts.dtype),
            (coef * ring.psum(d_scale)).astype(scale.dtype))


_clip_local.defvjp(_clip_fwd, _clip_bwd)


# ----------------------------------------------------------------------------- SigLIP sigmoid loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _siglip_local(images, texts, scale, bias, ring: _Ring):
    return _siglip_fwd(images, texts, scale, bias, ring)[0]


def _signs(row_ids, col_ids):
    return 2.0 * _positives(row_ids, col_ids) - 1.0


def _siglip_fwd(images, texts, scale, bias, ring: _Ring):
    b = images.shape[0]

    def tile_fn(row, col, dot, valid, row_ids, col_ids, *_):
        total, row_best, row_arg = row
        col_best, col_arg = col
        logits = scale * dot + bias
        nll = -jax.nn.log_sigmoid(_signs(row_ids, col_ids) * logits)
        total = total + jnp.sum(jnp.where(valid[None, :], nll, 0.0))
        masked = jnp.where(valid[None, :], logits, -jnp.inf)
        row_best, row_arg = _best(row_best, row_arg, masked, col_ids, axis=1)
        col_best, col_arg = _best(col_best, col_arg, masked, row_ids, axis=0)
        return (total, row_best, row_arg), (col_best, col_arg)

    row0 = (jnp.zeros((), F32), jnp.full((b,), -jnp.inf, F32), jnp.zeros((b,), jnp.int32))
    col0 = _col_init(b, ring.block, (-jnp.inf, F32), (0, jnp.int32))
    (total, _, row_arg), (_, col_arg) = _ring_pass(images, texts, ring, tile_fn, row0, col0)
    n_global = b * ring.size
    own = ring.index() * b + jnp.arange(b)
    loss = ring.psum(total) / n_global
    i2t = ring.psum(jnp.sum(row_arg == own)) / n_global
    t2i = ring.psum(jnp.sum(col_arg == own)) / n_global
    return (loss, i2t, t2i), (images, texts, scale, bias)


def _siglip_bwd(ring: _Ring, residuals, cotangents):
    images, texts, scale, bias = residuals
    g = cotangents[0]
    b, d = images.shape

    def tile_fn(row, col, dot, valid, row_ids, col_ids, imgs, text_tile):
        d_images, d_scale, d_bias = row
        (d_text,) = col
        signs = _signs(row_ids, col_ids)
        # d(-log sigmoid(z x))/dx = -z sigmoid(-z x)
        dl = jnp.where(valid[None, :], -signs * jax.nn.sigmoid(-signs * (scale * dot + bias)), 0.0)
        d_images = d_images + jnp.einsum("ij,jd->id", dl.astype(text_tile.dtype), text_tile, preferred_element_type=F32)
        d_text = d_text + jnp.einsum("ij,id->jd", dl.astype(imgs.dtype), imgs, preferred_element_type=F32)
        return (d_images, d_scale + jnp.sum(dl * dot), d_bias + jnp.sum(dl)), (d_text,)

    row0 = (jnp.zeros((b, d), F32), jnp.zeros((), F32), jnp.zeros((), F32))
    col0 = (_to_tiles(jnp.zeros((b, d), F32), ring.block),)
    (d_images, d_scale, d_bias), (d_texts,) = _ring_pass(images, texts, ring, tile_fn, row0, col0)
    coef = g / (b * ring.size)
    return ((coef * scale * d_images).astype(images.dtype), (coef * scale * d_texts).astype(texts.dtype),
            (coef * ring.psum(d_scale)).astype(scale.dtype), (coef * ring.psum(d_bias)).astype(bias.dtype))


_siglip_local.defvjp(_siglip_fwd, _siglip_bwd)


# ----------------------------------------------------------------------------- public entry points


def _run(local_fn, mesh: Mesh | None, batch_axes: Sequence[str], block_size: int, arrays, scalars):
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    if mesh is None:
        return local_fn(*arrays, *scalars, _Ring(None, 1, block_size))
    axes = tuple(a for a in batch_axes if a in mesh.axis_names)
    size = math.prod(mesh.shape[a] for a in axes)
    batch = arrays[0].shape[0]
    if batch % size:
        raise ValueError(f"global batch {batch} is not divisible by the {size} devices of mesh axes {axes}")
    ring = _Ring(axes or None, size, block_size)
    spec = P(axes or None)
    fn = jax.shard_map(
        lambda *xs: local_fn(*xs, ring), mesh=mesh,
        in_specs=(spec,) * len(arrays) + (P(),) * len(scalars), out_specs=(P(), P(), P()))
    return fn(*arrays, *scalars)


def fused_clip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array, *,
                    mesh: Mesh | None = None, batch_axes: Sequence[str] = ("data", "fsdp"),
                    block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[jax.Array, dict[str, jax.Array]]:
    """CLIP's symmetric softmax loss (equal to `reference.clip_loss`), plus in-batch accuracies.

    The batch axis of the embeddings is split over `batch_axes` of `mesh` (those it has).
    """
    scale = logit_scale_value(logit_scale)
    loss, i2t, t2i = _run(_clip_local, mesh, batch_axes, block_size, (image_emb, text_emb), (scale,))
    return loss, {"image_to_text_accuracy": i2t, "text_to_image_accuracy": t2i}


def fused_siglip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array, logit_bias: jax.Array, *,
                      mesh: Mesh | None = None, batch_axes: Sequence[str] = ("data", "fsdp"),
                      block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[jax.Array, dict[str, jax.Array]]:
    """SigLIP's sigmoid loss (equal to `reference.siglip_loss`), plus in-batch accuracies."""
    scale = logit_scale_value(logit_scale)
    bias = logit_bias.astype(F32)
    loss, i2t, t2i = _run(_siglip_local, mesh, batch_axes, block_size, (image_emb, text_emb), (scale, bias))
    return loss, {"image_to_text_accuracy": i2t, "text_to_image_accuracy": t2i}
