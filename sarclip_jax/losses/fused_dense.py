"""The plain computation for small per-device batches: each device holds its B_local x B rows.

When the rows fit the memory budget this is exact and cheaper than the ring: texts (and keys)
are gathered once, the column statistics are reduced across devices (B floats, not B x B), and
the forward pass keeps d loss / d logits of its rows for the backward pass (a `custom_vjp`: the
backward is two matrix products, nothing is recomputed). Same values, same positives
(`ring.own_keys`) and the same accuracies (ties to the lower global index) as the ring.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from sarclip_jax.losses.ring import F32, Ring, hits, keys_equal


def _rows(images, texts, keys, ring: Ring):
    """This device's rows of the global dot matrix, their positives, and all keys."""
    all_texts, all_keys = ring.all_gather(texts), tuple(ring.all_gather(k) for k in keys)
    dot = jnp.einsum("id,jd->ij", images, all_texts, preferred_element_type=F32)
    positive = keys_equal(tuple(k[:, None] for k in keys), tuple(k[None, :] for k in all_keys))
    return dot, positive, all_texts, all_keys


def _accuracies(logits, keys, all_keys, ring: Ring):
    b = logits.shape[0]
    n_global = b * ring.size
    pick = lambda i: tuple(k[i] for k in all_keys)
    i2t = ring.psum(hits(pick(jnp.argmax(logits, axis=1)), keys)) / n_global
    # Column winners: the best local row per column, then the best device, ties to the lower index.
    top = logits.max(0)
    arg = jnp.argmax(logits, axis=0).astype(jnp.int32) + ring.index() * b
    winner = ring.pmin(jnp.where(top == ring.pmax(top), arg, jnp.iinfo(jnp.int32).max))
    mine = jax.lax.dynamic_slice_in_dim(winner, ring.index() * b, b)  # this device's texts
    return i2t, ring.psum(hits(pick(mine), keys)) / n_global


def _backward(ring: Ring, images, all_texts, w, coef):
    """Gradients of images and local texts from d loss / d logits of this device's rows."""
    d_images = jnp.einsum("ij,jd->id", w.astype(all_texts.dtype), all_texts, preferred_element_type=F32)
    d_all_texts = jnp.einsum("ij,id->jd", w.astype(images.dtype), images, preferred_element_type=F32)
    return (coef * d_images).astype(images.dtype), (coef * ring.psum_scatter(d_all_texts)).astype(all_texts.dtype)


# ----------------------------------------------------------------------------- CLIP softmax loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def clip_dense(images, texts, keys, scale, ring: Ring):
    return _clip_fwd(images, texts, keys, scale, ring)[0]


def _clip_fwd(images, texts, keys, scale, ring: Ring):
    b = images.shape[0]
    n_global = b * ring.size
    dot, positive, all_texts, all_keys = _rows(images, texts, keys, ring)
    s = scale * dot
    count = positive.sum(1, dtype=jnp.int32).astype(F32)  # also the local texts' counts
    inv_count = 1.0 / count
    on_pos = jnp.where(positive, s, 0.0)
    # Each exponential once (they dominate the elementwise work): softmax = exp(s - max) / sum.
    row_top = s.max(1)
    row_exp = jnp.exp(s - row_top[:, None])
    row_sum = row_exp.sum(1)
    col_top = ring.pmax(s.max(0))  # (B,): every column's maximum over the global batch
    col_exp = jnp.exp(s - col_top[None, :])
    col_sum = ring.psum(col_exp.sum(0))
    local = lambda x: jax.lax.dynamic_slice_in_dim(x, ring.index() * b, b)
    row_lse, col_lse = jnp.log(row_sum) + row_top, local(jnp.log(col_sum) + col_top)
    row_pos, col_pos = on_pos.sum(1), ring.psum_scatter(on_pos.sum(0))
    loss = ring.psum(jnp.sum(row_lse + col_lse - (row_pos * inv_count + col_pos * inv_count))) / (2 * n_global)
    # d loss / d logits (times 2 B): row softmax + column softmax - each side's 1/count on positives.
    all_inv_count = ring.all_gather(inv_count)
    pos_weight = jnp.where(positive, inv_count[:, None] + all_inv_count[None, :], 0.0)
    w = row_exp / row_sum[:, None] + col_exp / col_sum[None, :] - pos_weight
    d_scale = ring.psum(jnp.sum(w * dot))
    return (loss, *_accuracies(s, keys, all_keys, ring)), (images, all_texts, w, d_scale, scale)


def _clip_bwd(ring: Ring, residuals, cotangents):
    images, all_texts, w, d_scale, scale = residuals
    coef = cotangents[0] / (2 * images.shape[0] * ring.size)
    d_images, d_texts = _backward(ring, images, all_texts, w, coef * scale)
    return d_images, d_texts, None, (coef * d_scale).astype(scale.dtype)


clip_dense.defvjp(_clip_fwd, _clip_bwd)


# ----------------------------------------------------------------------------- SigLIP sigmoid loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def siglip_dense(images, texts, keys, scale, bias, ring: Ring):
    return _siglip_fwd(images, texts, keys, scale, bias, ring)[0]


def _siglip_fwd(images, texts, keys, scale, bias, ring: Ring):
    b = images.shape[0]
    dot, positive, all_texts, all_keys = _rows(images, texts, keys, ring)
    logits = scale * dot + bias
    signs = jnp.where(positive, 1.0, -1.0)
    loss = ring.psum(jnp.sum(-jax.nn.log_sigmoid(signs * logits))) / (b * ring.size)
    dl = -signs * jax.nn.sigmoid(-signs * logits)  # d(-log sigmoid(z x))/dx
    d_scale, d_bias = ring.psum(jnp.sum(dl * dot)), ring.psum(jnp.sum(dl))
    return (loss, *_accuracies(logits, keys, all_keys, ring)), (images, all_texts, dl, d_scale, d_bias, scale, bias)


def _siglip_bwd(ring: Ring, residuals, cotangents):
    images, all_texts, dl, d_scale, d_bias, scale, bias = residuals
    coef = cotangents[0] / (images.shape[0] * ring.size)
    d_images, d_texts = _backward(ring, images, all_texts, dl, coef * scale)
    return d_images, d_texts, None, (coef * d_scale).astype(scale.dtype), (coef * d_bias).astype(bias.dtype)


siglip_dense.defvjp(_siglip_fwd, _siglip_bwd)
