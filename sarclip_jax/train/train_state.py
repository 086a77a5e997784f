"""The train state and its shardings: every leaf placed with an explicit NamedSharding.

    state = {"params": nested dict, "opt_state": optax state, "step": int32, "rng": uint32[2]}

Parameters are created directly in their shards (initialisation runs under jit with
out_shardings), so a model larger than one device's memory never exists whole anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from sarclip_jax.models.clip import CLIP
from sarclip_jax.models.config import CLIPConfig
from sarclip_jax.models.params import abstract_model
from sarclip_jax.sharding import param_specs


def abstract_params(cfg: CLIPConfig) -> tuple[nnx.GraphDef, nnx.State]:
    return nnx.split(abstract_model(cfg), nnx.Param)


def state_shardings(cfg: CLIPConfig, tx: optax.GradientTransformation, mesh: Mesh) -> tuple[nnx.GraphDef, dict]:
    """(graphdef, shardings pytree matching the train state)."""
    graphdef, params = abstract_params(cfg)
    specs = nnx.to_pure_dict(param_specs(params, mesh))
    param_sh = jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, P))
    replicated = NamedSharding(mesh, P())
    opt_shapes = jax.eval_shape(tx.init, nnx.to_pure_dict(params))
    return graphdef, {"params": param_sh, "opt_state": _like_params(opt_shapes, param_sh, params, replicated),
                      "step": replicated, "rng": replicated}


def _like_params(opt_shapes, param_sh, params: nnx.State, default: NamedSharding):
    """Shardings for optimizer state: a leaf whose path ends with a parameter's path (Adam's
    moments, in whatever wrapper the transformation chain puts them) shards like that parameter;
    counts and other scalars get `default`."""
    shapes = {path: leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(params))}
    by_path = dict(jax.tree_util.tree_leaves_with_path(param_sh))

    def pick(path, leaf):
        for start in range(len(path)):
            suffix = tuple(path[start:])
            if suffix in by_path and shapes[suffix] == leaf.shape:
                return by_path[suffix]
        return default

    return jax.tree_util.tree_map_with_path(pick, opt_shapes)


CPU_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def init_state(cfg: CLIPConfig, tx: optax.GradientTransformation, shardings: dict, seed: int,
               params: Mapping[str, Any] | None = None) -> dict:
    """A fresh train state: random parameters from `seed`, or the given nested `params`."""
    rng = jax.random.PRNGKey(seed)

    def from_params(p):
        return {"params": p, "opt_state": tx.init(p), "step": jnp.zeros((), jnp.int32), "rng": rng}

    if params is None:
        def fresh():
            model = CLIP(cfg, rngs=nnx.Rngs(seed))
            return from_params(nnx.to_pure_dict(nnx.state(model, nnx.Param)))

        # XLA:CPU compiles the random initialisation at LLVM -O1 in 0.4x the default's time, with
        # bit-identical parameters (tests/test_train.py); it runs once, so its speed hardly matters.
        # Under a trace (eval_shape, an outer jit) it is inlined, where options are not allowed.
        top_level_on_cpu = jax.default_backend() == "cpu" and not isinstance(jnp.zeros(()), jax.core.Tracer)
        options = CPU_INIT_COMPILER_OPTIONS if top_level_on_cpu else None
        return jax.jit(fresh, out_shardings=shardings, compiler_options=options)()
    dtype = jnp.dtype(cfg.param_dtype)
    placed = jax.tree.map(lambda x, sh: jax.device_put(np.asarray(x, dtype), sh), dict(params), shardings["params"])
    return jax.jit(from_params, out_shardings=shardings)(placed)


def abstract_state(shardings: dict, state_shapes: Any) -> Any:
    """ShapeDtypeStructs carrying the target shardings: what a restore should produce."""
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), state_shapes, shardings)
