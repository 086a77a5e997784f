"""Building blocks shared by both towers: LayerNorm, attention, MLP, and the scanned stack.

Names follow OpenCLIP (`ln_1`, `attn.in_proj_weight`, `mlp.c_fc.weight`, ...) so that weight
conversion is a mechanical mapping. Layouts are JAX's (inputs first): a PyTorch `(out, in)`
matrix is stored `(in, out)`, and attention weights keep the head axis separate, `(embed, 3,
heads, head_dim)`, so that tensor parallelism can shard heads.

Every parameter carries `logical_axes` metadata; `sarclip_jax.sharding` maps those names to mesh
axes. Residual blocks are stacked on a leading `layers` axis and run under `jax.lax.scan`, which keeps
compile time flat in depth (24 blocks compile like one).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from sarclip_jax.models.attention import attend
from sarclip_jax.sharding import constrain

Initializer = Callable[[jax.Array, tuple[int, ...], jnp.dtype], jax.Array]

LN_EPS = 1e-5  # torch.nn.LayerNorm's default, which OpenCLIP uses


def param(rngs: nnx.Rngs, init: Initializer, shape: tuple[int, ...], dtype, axes: tuple[str | None, ...]):
    if len(axes) != len(shape):
        raise ValueError(f"logical axes {axes} do not match shape {shape}")
    return nnx.Param(init(rngs.params(), shape, dtype), logical_axes=axes)


def normal(std: float) -> Initializer:
    return jax.nn.initializers.normal(stddev=std)


zeros: Initializer = jax.nn.initializers.zeros
ones: Initializer = jax.nn.initializers.ones


def quick_gelu(x: jax.Array) -> jax.Array:
    return x * jax.nn.sigmoid(1.702 * x)


def gelu(x: jax.Array) -> jax.Array:
    # torch.nn.GELU()'s exact form, written as torch computes it: x/2 (1 + erf(x/sqrt 2)).
    # jax.nn.gelu's erfc form is the same function, but with it XLA:CPU runs the MLP block's
    # forward and backward about 2x slower (bench/step_forms.py).
    return 0.5 * x * (1.0 + jax.lax.erf(x * _SQRT_HALF))


_SQRT_HALF = math.sqrt(0.5)


class LayerNorm(nnx.Module):
    """LayerNorm computed in float32 whatever the compute dtype, cast back afterwards."""

    def __init__(self, width: int, *, param_dtype, rngs: nnx.Rngs):
        self.weight = param(rngs, ones, (width,), param_dtype, ("norm",))
        self.bias = param(rngs, zeros, (width,), param_dtype, ("norm",))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x.astype(jnp.float32)
        mean = y.mean(-1, keepdims=True)
        var = jnp.square(y - mean).mean(-1, keepdims=True)
        y = (y - mean) * jax.lax.rsqrt(var + LN_EPS)
        y = y * self.weight[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
        return y.astype(x.dtype)


class Linear(nnx.Module):
    """`x @ weight + bias` over the last axis of x; weight is (in, out)."""

    def __init__(self, d_in: int, d_out: int, axes: tuple[str, str], *, std: float, dtype, param_dtype, rngs):
        self.weight = param(rngs, normal(std), (d_in, d_out), param_dtype, axes)
        self.bias = param(rngs, zeros, (d_out,), param_dtype, (axes[1],))
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight[...].astype(self.dtype) + self.bias[...].astype(self.dtype)


class MultiheadAttention(nnx.Module):
    """torch.nn.MultiheadAttention's computation (fused q/k/v projection, then out_proj)."""

    def __init__(self, width: int, heads: int, *, std_in: float, std_out: float, dtype, param_dtype, rngs,
                 implementation: str = "xla"):
        head_dim = width // heads
        self.in_proj_weight = param(
            rngs, normal(std_in), (width, 3, heads, head_dim), param_dtype, ("embed", None, "heads", "head_dim"))
        self.in_proj_bias = param(rngs, zeros, (3, heads, head_dim), param_dtype, (None, "heads", "head_dim"))
        self.out_proj = _OutProj(heads, head_dim, width, std=std_out, param_dtype=param_dtype, rngs=rngs)
        self.dtype = dtype
        self.implementation = implementation

    def __call__(self, x: jax.Array, *, causal: bool) -> jax.Array:
        w = self.in_proj_weight[...].astype(self.dtype)
        qkv = jnp.einsum("bte,ekhd->kbthd", x, w) + self.in_proj_bias[...].astype(self.dtype)[:, None, None]
        qkv = constrain(qkv, (None, "batch", "length", "act_heads", None))
        out = attend(qkv[0], qkv[1], qkv[2], causal=causal, implementation=self.implementation)
        return self.out_proj(out)


class _OutProj(nnx.Module):
    def __init__(self, heads: int, head_dim: int, width: int, *, std: float, param_dtype, rngs):
        self.weight = param(rngs, normal(std), (heads, head_dim, width), param_dtype, ("heads", "head_dim", "embed"))
        self.bias = param(rngs, zeros, (width,), param_dtype, ("embed",))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.einsum("bthd,hde->bte", x, self.weight[...].astype(x.dtype)) + self.bias[...].astype(x.dtype)


class Mlp(nnx.Module):
    def __init__(self, width: int, hidden: int, activation, *, std_fc: float, std_proj: float, dtype, param_dtype, rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.c_fc = Linear(width, hidden, ("embed", "mlp"), std=std_fc, **kw)
        self.c_proj = Linear(hidden, width, ("mlp", "embed"), std=std_proj, **kw)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        hidden = constrain(self.c_fc(x), ("batch", "length", "act_mlp"))
        return self.c_proj(self.activation(hidden))


class ResidualAttentionBlock(nnx.Module):
    """Pre-LN block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, layers: int, *, quick: bool, dtype, param_dtype, rngs,
                 attention: str = "xla"):
        # CLIP's initialisation (OpenCLIP's text tower): residual outputs shrink with depth.
        attn_std = width**-0.5
        proj_std = attn_std * (2 * layers) ** -0.5
        fc_std = (2 * width) ** -0.5
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.ln_1 = LayerNorm(width, param_dtype=param_dtype, rngs=rngs)
        self.attn = MultiheadAttention(width, heads, std_in=attn_std, std_out=proj_std, implementation=attention, **kw)
        self.ln_2 = LayerNorm(width, param_dtype=param_dtype, rngs=rngs)
        hidden = int(width * mlp_ratio)
        act = quick_gelu if quick else gelu
        self.mlp = Mlp(width, hidden, act, std_fc=fc_std, std_proj=proj_std, **kw)

    def __call__(self, x: jax.Array, *, causal: bool) -> jax.Array:
        # Pinning the residual stream to the batch split keeps FSDP's weight split off activations.
        x = constrain(x, ("batch", "length", "act_embed"))
        x = x + self.attn(self.ln_1(x), causal=causal)
        return x + self.mlp(self.ln_2(x))


_REMAT_POLICIES = {
    "full": None,  # save nothing inside a block: recompute it all in the backward pass
    "dots": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class Transformer(nnx.Module):
    """`layers` residual blocks with their parameters stacked on a leading `layers` axis."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float, *, quick: bool, remat: str,
                 dtype, param_dtype, rngs: nnx.Rngs, unroll: bool = False, attention: str = "xla"):
        @nnx.split_rngs(splits=layers)
        @nnx.vmap(in_axes=0, out_axes=0)
        def make_blocks(rngs: nnx.Rngs):
            return ResidualAttentionBlock(width, heads, mlp_ratio, layers, quick=quick, dtype=dtype,
                                          param_dtype=param_dtype, rngs=rngs, attention=attention)

        self.resblocks = make_blocks(rngs)
        for _, var in nnx.iter_graph(self.resblocks):
            if isinstance(var, nnx.Param):
                var.set_metadata(logical_axes=("layers",) + var.get_metadata()["logical_axes"])
        self.layers = layers
        self.remat = remat
        self.unroll = unroll

    def __call__(self, x: jax.Array, *, causal: bool) -> jax.Array:
        # A plain lax.scan over the stacked state (rather than nnx.scan) works the same eagerly,
        # under nnx.jit, and inside jax.jit/grad of a split-and-merged model.
        graphdef, stacked = nnx.split(self.resblocks)

        def body(x, layer_state):
            return nnx.merge(graphdef, layer_state)(x, causal=causal), None

        if self.remat != "none":
            body = jax.checkpoint(body, policy=_REMAT_POLICIES[self.remat], prevent_cse=False)
        x, _ = jax.lax.scan(body, x, stacked, length=self.layers, unroll=self.unroll)
        return x


def fan_in_uniform(fan_in: int) -> Initializer:
    """torch's default Linear/Conv initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in)
    return lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, -bound, bound)
