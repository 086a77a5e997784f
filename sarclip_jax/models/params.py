"""Moving parameters between a CLIP module and a flat {dotted path: array} dict.

The flat form is what conversion, export and checkpoint code exchange; building a model from it
never runs the random initialisers (the model is made abstract first, then filled).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sarclip_jax.models.clip import CLIP
from sarclip_jax.models.config import CLIPConfig


def flat_params(model: nnx.Module) -> dict[str, jax.Array]:
    return {_dotted(path): var.get_value() for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def abstract_model(cfg: CLIPConfig) -> CLIP:
    return nnx.eval_shape(lambda: CLIP(cfg, rngs=nnx.Rngs(0)))


def model_from_flat_params(cfg: CLIPConfig, params: Mapping[str, np.ndarray | jax.Array],
                           shardings: Mapping[str, jax.sharding.Sharding] | None = None) -> CLIP:
    """A CLIP holding `params` (cast to the config's param_dtype, placed with `shardings` if given)."""
    graphdef, state = nnx.split(abstract_model(cfg))
    flat_state = nnx.to_flat_state(state)
    expected = {_dotted(p): v for p, v in flat_state}
    missing, unexpected = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
    wrong = [f"{k}: given {tuple(np.shape(params[k]))}, expected {expected[k].shape}"
             for k in sorted(set(params) & set(expected)) if tuple(np.shape(params[k])) != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"parameters do not fit the model: missing {missing}, unexpected {unexpected}, "
                         f"wrong shapes {wrong}")
    dtype = jnp.dtype(cfg.param_dtype)
    for path, var in flat_state:
        key = _dotted(path)
        value = np.asarray(params[key]).astype(dtype) if not isinstance(params[key], jax.Array) else params[key].astype(dtype)
        var.set_value(jax.device_put(value, shardings[key]) if shardings else jnp.asarray(value))
    return nnx.merge(graphdef, nnx.from_flat_state(flat_state))


def _dotted(path) -> str:
    return ".".join(str(p) for p in path)
