"""Plain contrastive losses over the full logit matrix: the definitions the fused ones must equal.

They materialise the B x B logits, so they are for tests, small batches and reading.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MAX_LOGIT_SCALE = 100.0  # CLIP clamps the learned temperature's exponent at 100


def logit_scale_value(logit_scale: jax.Array) -> jax.Array:
    """exp(logit_scale), clamped at 100 (no gradient flows through the clamp once it binds)."""
    return jnp.minimum(jnp.exp(logit_scale.astype(jnp.float32)), MAX_LOGIT_SCALE)


def _logits(image_emb, text_emb, logit_scale):
    return logit_scale_value(logit_scale) * jnp.einsum(
        "id,jd->ij", image_emb, text_emb, preferred_element_type=jnp.float32)


def clip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array) -> jax.Array:
    """Symmetric cross-entropy over image->text and text->image logits; pairs on the diagonal."""
    logits = _logits(image_emb, text_emb, logit_scale)
    diag = jnp.diagonal(logits)
    image_to_text = jax.nn.logsumexp(logits, axis=1) - diag
    text_to_image = jax.nn.logsumexp(logits, axis=0) - diag
    return 0.5 * (image_to_text.mean() + text_to_image.mean())


def siglip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array,
                logit_bias: jax.Array) -> jax.Array:
    """SigLIP's pairwise sigmoid loss, summed over all pairs and divided by the batch size."""
    logits = _logits(image_emb, text_emb, logit_scale) + logit_bias.astype(jnp.float32)
    signs = 2.0 * jnp.eye(logits.shape[0], dtype=jnp.float32) - 1.0
    return -jnp.sum(jax.nn.log_sigmoid(signs * logits)) / logits.shape[0]


def in_batch_accuracy(image_emb: jax.Array, text_emb: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(image->text, text->image) top-1 accuracy within the batch; ties go to the lower index."""
    sims = jnp.einsum("id,jd->ij", image_emb, text_emb, preferred_element_type=jnp.float32)
    target = jnp.arange(sims.shape[0])
    return (jnp.mean(jnp.argmax(sims, axis=1) == target), jnp.mean(jnp.argmax(sims, axis=0) == target))
