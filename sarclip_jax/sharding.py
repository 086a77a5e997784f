"""Device meshes and partition rules, in one place.

Models name their parameters' axes logically (`embed`, `mlp`, `heads`, ...); this module maps
those names to the mesh axes `data`, `fsdp` and `tensor`:

- data parallel: the batch is split over `data` (and `fsdp`), parameters are replicated;
- FSDP: parameters and optimizer state are split over `fsdp` along their `embed` axis;
- tensor parallel: attention heads, MLP hidden units and the vocabulary are split over `tensor`.

Rules are data: `LOGICAL_RULES` maps logical names to mesh axes, and `overrides` (regex on the
parameter path -> logical names or a PartitionSpec) take precedence, first match wins. A mesh
axis used twice in one parameter is an error; a dimension that a mesh axis does not divide is
kept whole (and reported), since tiny test models cannot split 3 heads over 2 devices.

    mesh = make_mesh(MeshConfig(data=-1, fsdp=2, tensor=1))
    shardings = param_shardings(nnx.state(model, nnx.Param), mesh)

Activations are named too (`batch`, `act_heads`, ...; `ACTIVATION_RULES`): inside
`with activation_mesh(mesh):` the models pin them with `constrain`, so that GSPMD keeps the batch
split and gathers FSDP weights, instead of spreading the weights' `embed` split onto activations
(which replicates the batch on every device). Outside such a block `constrain` does nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")  # the batch is split over every device that does not split weights

LOGICAL_RULES: tuple[tuple[str, str | None], ...] = (
    ("layers", None),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("head_dim", None),
    ("vocab", "tensor"),
    ("proj", None),
    ("norm", None),
)

# Activations: the batch is split over every batch axis, heads and MLP units over `tensor`; the
# residual stream's width stays whole (FSDP gathers weights, not activations).
ACTIVATION_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", BATCH_AXES),
    ("length", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_mlp", "tensor"),
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Sizes of the mesh axes; one of them may be -1 for "all remaining devices"."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1

    def resolve(self, num_devices: int) -> tuple[int, int, int]:
        sizes = [self.data, self.fsdp, self.tensor]
        free = [i for i, s in enumerate(sizes) if s == -1]
        bad = [f"{a}={s}" for a, s in zip(MESH_AXES, sizes) if s == 0 or s < -1]
        if bad or len(free) > 1:
            raise ValueError(f"mesh sizes must be positive, with at most one -1; got {dict(zip(MESH_AXES, sizes))}")
        known = math.prod(s for s in sizes if s != -1)
        if free:
            if num_devices % known:
                raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))}: {num_devices} devices do not divide by {known}")
            sizes[free[0]] = num_devices // known
        if math.prod(sizes) != num_devices:
            raise ValueError(
                f"mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices, but {num_devices} are present")
        return tuple(sizes)


def make_mesh(config: MeshConfig = MeshConfig(), devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, fsdp, tensor) mesh over all devices of all processes (or the ones given)."""
    devices = list(devices if devices is not None else jax.devices())
    shape = config.resolve(len(devices))
    # Auto axes: shardings are given explicitly to jit and partition rules, GSPMD does the rest.
    return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * 3, devices=devices)


def spec_for(path: str, shape: tuple[int, ...], logical_axes: Sequence[str | None], mesh: Mesh,
             overrides: Sequence[tuple[str, Any]] = (), rules: Sequence[tuple[str, str | None]] = LOGICAL_RULES) -> P:
    """The PartitionSpec of one parameter."""
    for pattern, target in overrides:
        if re.fullmatch(pattern, path):
            if isinstance(target, P):
                return _checked(path, shape, tuple(target) + (None,) * (len(shape) - len(target)), mesh)
            logical_axes = target
            break
    if len(logical_axes) != len(shape):
        raise ValueError(f"{path}: logical axes {tuple(logical_axes)} do not match shape {shape}")
    table = dict(rules)
    unknown = [a for a in logical_axes if a is not None and a not in table]
    if unknown:
        raise ValueError(f"{path}: no partition rule for logical axes {unknown}; add them to the rules")
    return _checked(path, shape, tuple(table[a] if a is not None else None for a in logical_axes), mesh)


def _checked(path: str, shape, axes: tuple, mesh: Mesh) -> P:
    used = [a for a in axes if a is not None]
    flat = [x for a in used for x in (a if isinstance(a, tuple) else (a,))]
    if len(flat) != len(set(flat)):
        raise ValueError(f"{path}: mesh axis used twice in {axes}")
    out = []
    for dim, axis in zip(shape, axes):
        size = 1 if axis is None else math.prod(mesh.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,)))
        if axis is not None and dim % size:
            log.info("%s: dimension %d is not divisible by mesh axis %s (%d); kept whole", path, dim, axis, size)
            axis = None
        out.append(axis if size > 1 else None)
    return P(*out)


def param_specs(params: nnx.State, mesh: Mesh, overrides: Sequence[tuple[str, Any]] = ()) -> nnx.State:
    """PartitionSpecs for a state of Variables that carry `logical_axes` metadata."""

    def one(path, var):
        name = ".".join(str(p) for p in path)
        axes = var.get_metadata().get("logical_axes")
        if axes is None:
            raise ValueError(f"{name}: parameter has no logical_axes metadata")
        return spec_for(name, tuple(var.get_value().shape), axes, mesh, overrides)

    return nnx.map_state(one, params)


def param_shardings(params: nnx.State, mesh: Mesh, overrides: Sequence[tuple[str, Any]] = ()) -> nnx.State:
    return jax.tree.map(lambda spec: NamedSharding(mesh, spec), param_specs(params, mesh, overrides),
                        is_leaf=lambda x: isinstance(x, P))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def global_batch(local: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Global arrays from this process's shard of the batch (every process calls this)."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()}


def batch_divisor(mesh: Mesh) -> int:
    """The global batch must be a multiple of this (the number of batch shards)."""
    return math.prod(mesh.shape[a] for a in BATCH_AXES)


def activation_mesh(mesh: Mesh):
    """Context in which `constrain` pins activations to `mesh` (usable inside jit)."""
    return jax.sharding.use_abstract_mesh(mesh.abstract_mesh)


def _context_mesh():
    """The mesh set by `activation_mesh`, or None."""
    mesh = jax.sharding.get_abstract_mesh()
    return None if mesh.empty or not set(MESH_AXES) <= set(mesh.axis_names) else mesh


def _activation_spec(shape: tuple[int, ...], logical_axes: Sequence[str | None], mesh) -> P:
    if len(logical_axes) != len(shape):
        raise ValueError(f"activation axes {tuple(logical_axes)} do not match shape {shape}")
    table = dict(ACTIVATION_RULES)
    spec = []
    for dim, name in zip(shape, logical_axes):
        axes = table[name] if name is not None else None
        axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
        axes = tuple(a for a in axes if mesh.shape[a] > 1)
        spec.append(axes if axes and dim % math.prod(mesh.shape[a] for a in axes) == 0 else None)
    return P(*spec)


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
    """x with its activation sharding pinned by ACTIVATION_RULES, when a mesh with this module's
    axes is in context; x itself otherwise. A mesh axis that does not divide its dimension is
    dropped (a small evaluation batch stays whole)."""
    mesh = _context_mesh()
    if mesh is None:
        return x
    return jax.lax.with_sharding_constraint(x, _activation_spec(x.shape, logical_axes, mesh))


def per_shard(fn, logical_axes: Sequence[str | None], *xs: jax.Array) -> jax.Array:
    """fn(*xs), run on each device's shard when a mesh is in context (for kernels the compiler
    cannot partition, such as Pallas calls). Every x and the result share `logical_axes`."""
    mesh = _context_mesh()
    if mesh is None:
        return fn(*xs)
    spec = _activation_spec(xs[0].shape, logical_axes, mesh)
    return jax.shard_map(fn, mesh=mesh, in_specs=(spec,) * len(xs), out_specs=spec, check_vma=False)(*xs)
