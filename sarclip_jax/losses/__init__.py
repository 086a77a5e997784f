"""Contrastive losses: plain references and fused, ring-sharded versions equal to them."""

from sarclip_jax.losses.fused import (
    DEFAULT_BLOCK_SIZE,
    fused_clip_loss,
    fused_siglip_loss,
)
from sarclip_jax.losses.reference import (
    MAX_LOGIT_SCALE,
    clip_loss,
    in_batch_accuracy,
    logit_scale_value,
    siglip_loss,
)
from sarclip_jax.losses.tiling import DEFAULT_MEMORY_BYTES

__all__ = [
    "DEFAULT_BLOCK_SIZE", "DEFAULT_MEMORY_BYTES", "MAX_LOGIT_SCALE", "clip_loss", "fused_clip_loss",
    "fused_siglip_loss", "in_batch_accuracy", "logit_scale_value", "siglip_loss",
]
