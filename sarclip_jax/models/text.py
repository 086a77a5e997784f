"""The causal text transformer (OpenCLIP's text tower, pooled at the end-of-text token)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sarclip_jax.models.config import CLIPConfig
from sarclip_jax.models.layers import LayerNorm, Transformer, normal, param


class TextTransformer(nnx.Module):
    """Token ids (batch, context_length) to embeddings (batch, embed_dim)."""

    def __init__(self, cfg: CLIPConfig, *, rngs: nnx.Rngs):
        t = cfg.text
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        self.token_embedding = _Embedding(t.vocab_size, t.width, param_dtype=param_dtype, rngs=rngs)
        self.positional_embedding = param(
            rngs, normal(0.01), (t.context_length, t.width), param_dtype, (None, "embed"))
        self.transformer = Transformer(t.width, t.layers, t.heads, t.mlp_ratio, quick=cfg.quick_gelu,
                                       remat=cfg.remat, unroll=cfg.unroll_layers, attention=cfg.attention,
                                       dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.ln_final = LayerNorm(t.width, param_dtype=param_dtype, rngs=rngs)
        self.text_projection = param(
            rngs, normal(t.width**-0.5), (t.width, cfg.embed_dim), param_dtype, ("embed", "proj"))
        self.context_length, self.pool_type, self.eos_id, self.dtype = t.context_length, t.pool_type, t.eos_id, dtype

    def __call__(self, ids: jax.Array) -> jax.Array:
        if ids.ndim != 2 or ids.shape[1] > self.context_length:
            raise ValueError(
                f"token ids have shape {ids.shape}; this model takes (batch, <= {self.context_length})")
        length = ids.shape[1]
        x = self.token_embedding(ids).astype(self.dtype)
        x = x + self.positional_embedding[:length].astype(self.dtype)
        x = self.transformer(x, causal=True)
        # ln_final is per token: pooling first and normalising one token per text is the same.
        pooled = self.ln_final(x[jnp.arange(x.shape[0]), self._pool_index(ids)])
        return pooled @ self.text_projection[...].astype(self.dtype)

    def _pool_index(self, ids: jax.Array) -> jax.Array:
        if self.pool_type == "argmax":
            return jnp.argmax(ids, axis=-1)
        if self.pool_type == "eos":
            return jnp.argmax(ids == self.eos_id, axis=-1)
        return jnp.zeros(ids.shape[0], jnp.int32) if self.pool_type == "first" else jnp.full(ids.shape[0], ids.shape[1] - 1)


class _Embedding(nnx.Module):
    def __init__(self, vocab_size: int, width: int, *, param_dtype, rngs: nnx.Rngs):
        self.weight = param(rngs, normal(0.02), (vocab_size, width), param_dtype, ("vocab", "embed"))

    def __call__(self, ids: jax.Array) -> jax.Array:
        return jnp.take(self.weight[...], ids, axis=0)
