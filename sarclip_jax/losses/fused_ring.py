"""The ring versions of the CLIP and SigLIP losses, each a `custom_vjp` over `ring.ring_pass`.

Forward: softmax normalisers are accumulated online (log-sum-exp), with the sums of positive
logits and the positive counts beside them. Backward: the ring runs again and each tile is
recomputed from the saved normalisers instead of being stored, so memory per device is
O(B_local x block) in both passes. Positives are pairs whose keys match (`ring.own_keys`: the
global index when every image has only its own caption, caption ids otherwise); the CLIP form
is the mean over positives of -log p (see `reference.clip_loss`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from sarclip_jax.losses.ring import (
    F32,
    Ring,
    Tile,
    best,
    best_init,
    col_init,
    hits,
    ring_pass,
    tiling,
    to_tiles,
)


def _accuracies(ring: Ring, b: int, keys, row_arg_keys, col_arg_keys):
    n_global = b * ring.size
    return ring.psum(hits(row_arg_keys, keys)) / n_global, ring.psum(hits(col_arg_keys, keys)) / n_global


def _col_best_init(b: int, ring: Ring, keys):
    return best_init(tiling(b, ring.block)[::-1], keys)


# ----------------------------------------------------------------------------- CLIP softmax loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def clip_ring(images, texts, keys, scale, ring: Ring):
    return _clip_fwd(images, texts, keys, scale, ring)[0]


def _clip_fwd(images, texts, keys, scale, ring: Ring):
    b = images.shape[0]

    def tile_fn(row, col, x: Tile):
        row_lse, row_pos, row_count, row_best = row
        col_lse, col_pos, col_best = col
        s = jnp.where(x.valid[None, :], scale * x.dot, -jnp.inf)
        on_pos = jnp.where(x.positive, s, 0.0)
        row_lse = jnp.logaddexp(row_lse, jax.nn.logsumexp(s, axis=1))
        col_lse = jnp.logaddexp(col_lse, jax.nn.logsumexp(s, axis=0))
        row_pos, col_pos = row_pos + on_pos.sum(1), col_pos + on_pos.sum(0)
        row_count = row_count + x.positive.sum(1, dtype=jnp.int32)
        row_best = best(row_best, s, x.col_ids, x.col_keys, axis=1)
        col_best = best(col_best, s, x.row_ids, x.row_keys, axis=0)
        return (row_lse, row_pos, row_count, row_best), (col_lse, col_pos, col_best)

    zeros = jnp.zeros((b,), F32)
    row0 = (jnp.full((b,), -jnp.inf, F32), zeros, jnp.zeros((b,), jnp.int32), best_init((b,), keys))
    col0 = (*col_init(b, ring.block, (-jnp.inf, F32), (0.0, F32)), _col_best_init(b, ring, keys))
    (row_lse, row_pos, count, row_best), (col_lse, col_pos, col_best) = ring_pass(
        images, texts, keys, ring, tile_fn, row0, col0)
    # A text's positives are the images whose own key is its key: as many as the image's (same key).
    inv_count = 1.0 / count.astype(F32)
    loss = ring.psum(jnp.sum(row_lse + col_lse - (row_pos * inv_count + col_pos * inv_count))) / (2 * b * ring.size)
    i2t, t2i = _accuracies(ring, b, keys, row_best[2], col_best[2])
    return (loss, i2t, t2i), (images, texts, keys, scale, row_lse, col_lse, inv_count)


def _clip_bwd(ring: Ring, residuals, cotangents):
    images, texts, keys, scale, row_lse, col_lse, inv_count = residuals
    g = cotangents[0]
    b, d = images.shape

    def tile_fn(row, col, x: Tile):
        d_images, d_scale = row
        tile_lse, tile_inv_count, d_text = col
        s = scale * x.dot
        # d loss / d logits up to the common factor: row softmax + column softmax - the positive
        # weights 1/count of each side. Subtracting in place keeps the small result accurate.
        pos_weight = inv_count[:, None] + tile_inv_count[None, :]
        w = jnp.exp(s - row_lse[:, None]) + jnp.exp(s - tile_lse[None, :]) - jnp.where(x.positive, pos_weight, 0.0)
        w = jnp.where(x.valid[None, :], w, 0.0)
        d_images = d_images + jnp.einsum("ij,jd->id", w.astype(x.texts.dtype), x.texts, preferred_element_type=F32)
        d_text = d_text + jnp.einsum("ij,id->jd", w.astype(x.images.dtype), x.images, preferred_element_type=F32)
        return (d_images, d_scale + jnp.sum(w * x.dot)), (tile_lse, tile_inv_count, d_text)

    row0 = (jnp.zeros((b, d), F32), jnp.zeros((), F32))
    col0 = (to_tiles(col_lse, ring.block), to_tiles(inv_count, ring.block),
            to_tiles(jnp.zeros((b, d), F32), ring.block))
    (d_images, d_scale), (_, _, d_texts) = ring_pass(images, texts, keys, ring, tile_fn, row0, col0)
    coef = g / (2 * b * ring.size)  # the loss averages 2 B cross-entropies
    return ((coef * scale * d_images).astype(images.dtype), (coef * scale * d_texts).astype(texts.dtype),
            None, (coef * ring.psum(d_scale)).astype(scale.dtype))


clip_ring.defvjp(_clip_fwd, _clip_bwd)


# ----------------------------------------------------------------------------- SigLIP sigmoid loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def siglip_ring(images, texts, keys, scale, bias, ring: Ring):
    return _siglip_fwd(images, texts, keys, scale, bias, ring)[0]


def _signs(positive):
    return jnp.where(positive, 1.0, -1.0)


def _siglip_fwd(images, texts, keys, scale, bias, ring: Ring):
    b = images.shape[0]

    def tile_fn(row, col, x: Tile):
        total, row_best = row
        (col_best,) = col
        logits = scale * x.dot + bias
        nll = -jax.nn.log_sigmoid(_signs(x.positive) * logits)
        total = total + jnp.sum(jnp.where(x.valid[None, :], nll, 0.0))
        masked = jnp.where(x.valid[None, :], logits, -jnp.inf)
        row_best = best(row_best, masked, x.col_ids, x.col_keys, axis=1)
        col_best = best(col_best, masked, x.row_ids, x.row_keys, axis=0)
        return (total, row_best), (col_best,)

    row0 = (jnp.zeros((), F32), best_init((b,), keys))
    col0 = (_col_best_init(b, ring, keys),)
    (total, row_best), (col_best,) = ring_pass(images, texts, keys, ring, tile_fn, row0, col0)
    loss = ring.psum(total) / (b * ring.size)
    i2t, t2i = _accuracies(ring, b, keys, row_best[2], col_best[2])
    return (loss, i2t, t2i), (images, texts, keys, scale, bias)


def _siglip_bwd(ring: Ring, residuals, cotangents):
    images, texts, keys, scale, bias = residuals
    g = cotangents[0]
    b, d = images.shape

    def tile_fn(row, col, x: Tile):
        d_images, d_scale, d_bias = row
        (d_text,) = col
        signs = _signs(x.positive)
        # d(-log sigmoid(z x))/dx = -z sigmoid(-z x)
        dl = jnp.where(x.valid[None, :], -signs * jax.nn.sigmoid(-signs * (scale * x.dot + bias)), 0.0)
        d_images = d_images + jnp.einsum("ij,jd->id", dl.astype(x.texts.dtype), x.texts, preferred_element_type=F32)
        d_text = d_text + jnp.einsum("ij,id->jd", dl.astype(x.images.dtype), x.images, preferred_element_type=F32)
        return (d_images, d_scale + jnp.sum(dl * x.dot), d_bias + jnp.sum(dl)), (d_text,)

    row0 = (jnp.zeros((b, d), F32), jnp.zeros((), F32), jnp.zeros((), F32))
    col0 = (to_tiles(jnp.zeros((b, d), F32), ring.block),)
    (d_images, d_scale, d_bias), (d_texts,) = ring_pass(images, texts, keys, ring, tile_fn, row0, col0)
    coef = g / (b * ring.size)
    return ((coef * scale * d_images).astype(images.dtype), (coef * scale * d_texts).astype(texts.dtype), None,
            (coef * ring.psum(d_scale)).astype(scale.dtype), (coef * ring.psum(d_bias)).astype(bias.dtype))


siglip_ring.defvjp(_siglip_fwd, _siglip_bwd)
