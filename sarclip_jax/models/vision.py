"""The ViT image tower (OpenCLIP's VisionTransformer, class-token or average pooling)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sarclip_jax.models.config import CLIPConfig
from sarclip_jax.models.layers import LayerNorm, Transformer, fan_in_uniform, normal, param


class VisionTransformer(nnx.Module):
    """Images (batch, height, width, 3), already normalised, to embeddings (batch, embed_dim)."""

    def __init__(self, cfg: CLIPConfig, *, rngs: nnx.Rngs):
        v = cfg.vision
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        scale = v.width**-0.5
        p = v.patch_size
        # The patch embedding is a stride-p convolution without bias, kept as an HWIO kernel.
        self.conv1 = param(rngs, fan_in_uniform(3 * p * p), (p, p, 3, v.width), param_dtype,
                           (None, None, None, "embed"))
        self.class_embedding = param(rngs, normal(scale), (v.width,), param_dtype, ("embed",))
        self.positional_embedding = param(
            rngs, normal(scale), (v.grid_size**2 + 1, v.width), param_dtype, (None, "embed"))
        self.ln_pre = LayerNorm(v.width, param_dtype=param_dtype, rngs=rngs)
        self.transformer = Transformer(v.width, v.layers, v.heads, v.mlp_ratio, quick=cfg.quick_gelu,
                                       remat=cfg.remat, unroll=cfg.unroll_layers, attention=cfg.attention,
                                       dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.ln_post = LayerNorm(v.width, param_dtype=param_dtype, rngs=rngs)
        self.proj = param(rngs, normal(scale), (v.width, cfg.embed_dim), param_dtype, ("embed", "proj"))
        self.image_size, self.patch_size, self.dtype = v.image_size, p, dtype
        self.pool_type = v.pool_type

    def __call__(self, images: jax.Array) -> jax.Array:
        b, h, w, c = images.shape
        if (h, w, c) != (self.image_size, self.image_size, 3):
            raise ValueError(
                f"images have shape {images.shape}; this model takes (batch, {self.image_size}, "
                f"{self.image_size}, 3) in NHWC layout")
        p, g = self.patch_size, self.image_size // self.patch_size
        x = images.astype(self.dtype).reshape(b, g, p, g, p, c)
        # Non-overlapping patches: the convolution is exactly one matmul per patch.
        x = jnp.einsum("bypxqc,pqcd->byxd", x, self.conv1[...].astype(self.dtype)).reshape(b, g * g, -1)
        cls = jnp.broadcast_to(self.class_embedding[...].astype(self.dtype), (b, 1, x.shape[-1]))
        x = jnp.concatenate([cls, x], axis=1) + self.positional_embedding[...].astype(self.dtype)
        x = self.transformer(self.ln_pre(x), causal=False)
        if self.pool_type == "avg":  # OpenCLIP's pool_type="avg": ln_post per token, mean of the patches
            pooled = self.ln_post(x[:, 1:]).mean(axis=1)
        else:  # ln_post is per token, so normalising only the class token gives OpenCLIP's result
            pooled = self.ln_post(x[:, 0])
        return pooled @ self.proj[...].astype(self.dtype)
