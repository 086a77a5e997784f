"""Plain contrastive losses over the full logit matrix: the definitions the fused ones must equal.

They materialise the B x B logits, so they are for tests, small batches and reading.

Positives. Without `caption_ids` each image's only positive is its own caption (the diagonal).
With `caption_ids` (one id per row, e.g. a 64-bit hash of the normalised caption as (B, 2) int32
halves, or (B,) int64) the pair (image i, caption j) is positive when caption j's id equals
image i's own caption's id: template-generated captions repeat, and a caption that describes an
image exactly should not be pushed away from it.
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


def positives(batch: int, caption_ids: jax.Array | None = None) -> jax.Array:
    """(B, B) bool: [i, j] when caption j is a positive for image i (symmetric, diagonal True)."""
    if caption_ids is None:
        return jnp.eye(batch, dtype=bool)
    ids = caption_ids.reshape(batch, -1)
    return jnp.all(ids[:, None, :] == ids[None, :, :], axis=-1)


def clip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array,
              caption_ids: jax.Array | None = None) -> jax.Array:
    """Symmetric cross-entropy over image->text and text->image logits.

    With several positives per row the target of each row's softmax is uniform over its
    positives: the loss is the mean over positives of -log p (the soft-target cross-entropy of
    UniCL, SupCon's "L_out"), not -log of the summed positive probability. Why: the summed form
    is satisfied once any one positive holds the probability, so a caption shared by many images
    could settle near a few of them (SupCon found the mean form trains better); the mean form
    pulls a caption towards every image it describes, which is what zero-shot prompts need.
    With one positive per row both are CLIP's loss.

    A property worth knowing: when duplicate captions have identical embeddings (same text,
    same tokens), this loss equals the one-positive loss in value, in the images' gradients and
    in each caption group's summed gradient (what the text tower receives), because the softmax
    already merges identical columns into one group; only how the group's gradient is shared
    among its copies differs. Repeated captions change the CLIP
    loss only where captions with the same id embed differently (texts that normalise to the
    same id, text augmentation); for the sigmoid loss they always matter.
    """
    logits = _logits(image_emb, text_emb, logit_scale)
    pos = positives(logits.shape[0], caption_ids)
    count = pos.sum(1).astype(jnp.float32)  # symmetric: also each column's count
    on_pos = jnp.where(pos, logits, 0.0)
    image_to_text = jax.nn.logsumexp(logits, axis=1) - on_pos.sum(1) / count
    text_to_image = jax.nn.logsumexp(logits, axis=0) - on_pos.sum(0) / count
    return 0.5 * (image_to_text.mean() + text_to_image.mean())


def siglip_loss(image_emb: jax.Array, text_emb: jax.Array, logit_scale: jax.Array,
                logit_bias: jax.Array, caption_ids: jax.Array | None = None) -> jax.Array:
    """SigLIP's pairwise sigmoid loss, summed over all pairs and divided by the batch size;
    every positive pair is labelled +1, every other pair -1."""
    logits = _logits(image_emb, text_emb, logit_scale) + logit_bias.astype(jnp.float32)
    signs = jnp.where(positives(logits.shape[0], caption_ids), 1.0, -1.0)
    return -jnp.sum(jax.nn.log_sigmoid(signs * logits)) / logits.shape[0]


def in_batch_accuracy(image_emb: jax.Array, text_emb: jax.Array,
                      caption_ids: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(image->text, text->image) top-1 accuracy within the batch: the top match (ties to the
    lower index) is correct when it is a positive."""
    sims = jnp.einsum("id,jd->ij", image_emb, text_emb, preferred_element_type=jnp.float32)
    pos = positives(sims.shape[0], caption_ids)
    rows = jnp.arange(sims.shape[0])
    return (jnp.mean(pos[rows, jnp.argmax(sims, axis=1)]), jnp.mean(pos[jnp.argmax(sims, axis=0), rows]))
