"""The two-tower CLIP model: image tower, text tower and the learned temperature (and bias)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sarclip_jax.models.config import CLIPConfig
from sarclip_jax.models.text import TextTransformer
from sarclip_jax.models.vision import VisionTransformer


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """torch.nn.functional.normalize: x / max(||x||, eps), computed in float32."""
    x32 = x.astype(jnp.float32)
    norm = jnp.sqrt(jnp.sum(jnp.square(x32), axis=-1, keepdims=True))
    return (x32 / jnp.maximum(norm, eps)).astype(x.dtype)


class CLIP(nnx.Module):
    """OpenCLIP's `CLIP`. The text tower lives under `text` (OpenCLIP keeps it at the top level)."""

    def __init__(self, cfg: CLIPConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        self.visual = VisionTransformer(cfg, rngs=rngs)
        self.text = TextTransformer(cfg, rngs=rngs)
        param_dtype = jnp.dtype(cfg.param_dtype)
        self.logit_scale = nnx.Param(jnp.asarray(cfg.init_logit_scale, param_dtype), logical_axes=())
        self.logit_bias = (
            nnx.Param(jnp.asarray(cfg.init_logit_bias, param_dtype), logical_axes=())
            if cfg.init_logit_bias is not None else None)

    def encode_image(self, images: jax.Array, normalize: bool = False) -> jax.Array:
        features = self.visual(images)
        return l2_normalize(features) if normalize else features

    def encode_text(self, ids: jax.Array, normalize: bool = False) -> jax.Array:
        features = self.text(ids)
        return l2_normalize(features) if normalize else features

    def __call__(self, images: jax.Array, ids: jax.Array) -> dict[str, jax.Array]:
        """Normalised features and exp(logit_scale), as OpenCLIP's forward returns them."""
        out = {
            "image_features": self.encode_image(images, normalize=True),
            "text_features": self.encode_text(ids, normalize=True),
            "logit_scale": jnp.exp(self.logit_scale[...].astype(jnp.float32)),
        }
        if self.logit_bias is not None:
            out["logit_bias"] = self.logit_bias[...].astype(jnp.float32)
        return out

    def get_logits(self, images: jax.Array, ids: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(logits_per_image, logits_per_text), with the bias added when the model has one."""
        out = self(images, ids)
        logits = out["logit_scale"] * out["image_features"].astype(jnp.float32) @ out["text_features"].astype(jnp.float32).T
        if "logit_bias" in out:
            logits = logits + out["logit_bias"]
        return logits, logits.T


def create_model(cfg: CLIPConfig, seed: int = 0) -> CLIP:
    return CLIP(cfg, rngs=nnx.Rngs(seed))
