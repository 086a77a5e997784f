"""Ahead-of-time compilation of a config's train step for a TPU slice, on any machine.

libtpu's compiler runs without a TPU: `jax.experimental.topologies.get_topology_desc` describes
a slice's devices, and `jax.jit(step).lower(<ShapeDtypeStructs carrying NamedShardings over those
devices>).compile()` is the compile a pod would run, with its `memory_analysis()` per chip.

    plan = plan_train_step(cfg, "v5e:2x4")    # cfg: a training ConfigDict (configs/*.py)
    plan.fits, plan.total_bytes, plan.step_time_s(mfu=0.5)

GPUs cannot be compiled for without one (the CUDA compiler needs the device); only TPU
topologies are accepted.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

# HBM per chip (Cloud TPU documentation); the peak FLOP/s table is the trainer's
# (sarclip_jax.train.metrics.PEAK_FLOPS). A slice described core by core (v4 without megacore)
# gives each device half a chip.
HBM_BYTES: dict[str, float] = {"v4": 32 * 2**30, "v5e": 16 * 2**30, "v5p": 95.74 * 2**30, "v6e": 32 * 2**30}
KINDS = {"TPU v4": "v4", "TPU v5 lite": "v5e", "TPU v5": "v5p", "TPU v6 lite": "v6e"}


class PlanError(ValueError):
    """A topology or config that cannot be planned; says what to do."""


def _quiet_libtpu() -> None:
    # On a machine without a TPU, libtpu warns that it cannot find one; for a plan that is expected.
    os.environ.setdefault("TPU_STDERR_LOG_LEVEL", "3")
    os.environ.setdefault("TPU_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TPU_ACCELERATOR_TYPE", "v5litepod-8")
    os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
    # Only the compiler is used: two plans (or a plan beside a test run) may load libtpu at once.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")


def topology_devices(name: str) -> list:
    """The devices of a TPU slice such as "v5e:2x4", "v5p:2x2x1", "v4:2x2x1", "v6e:2x2"."""
    generation = name.split(":", 1)[0]
    if generation not in HBM_BYTES:
        raise PlanError(f"unknown TPU topology {name!r}: give one of {sorted(HBM_BYTES)} with a shape, e.g. v5e:2x4; "
                        "GPUs cannot be compiled for without the GPU itself")
    _quiet_libtpu()
    try:
        import libtpu  # noqa: F401
    except ImportError:
        raise PlanError("planning for TPUs needs libtpu (the compiler): pip install -e \".[tpu]\" "
                        "(or libtpu matching your jax)") from None
    from jax.experimental import topologies

    try:
        return list(topologies.get_topology_desc(platform="tpu", topology_name=name).devices)
    except Exception as e:  # libtpu raises its own types for a shape it does not know
        raise PlanError(f"libtpu cannot describe topology {name!r}: {e}") from e


def chip_of(device) -> tuple[str, float, float]:
    """(generation, HBM bytes, peak bf16 FLOP/s) of one *device* of a slice."""
    generation = KINDS.get(device.device_kind)
    if generation is None:
        raise PlanError(f"no HBM/peak figures for device kind {device.device_kind!r}")
    from sarclip_jax.train.metrics import PEAK_FLOPS

    hbm, peak = HBM_BYTES[generation], PEAK_FLOPS[device.device_kind]
    cores = getattr(device, "num_cores", 1) or 1
    # A v4 slice without megacore lists every TensorCore as a device: each has half the chip.
    if generation == "v4" and cores == 1:
        hbm, peak = hbm / 2, peak / 2
    return generation, hbm, peak


@dataclasses.dataclass(frozen=True)
class Plan:
    topology: str
    devices: int
    generation: str
    mesh: dict[str, int]
    global_batch: int
    argument_bytes: int  # per device: parameters, optimizer state and the batch
    output_bytes: int
    alias_bytes: int  # outputs that reuse donated arguments
    temp_bytes: int  # activations, gradients, workspace
    params_bytes: int
    opt_state_bytes: int
    batch_bytes: int
    hbm_bytes: float
    peak_flops: float  # per device
    step_flops: float  # model FLOPs of one step, whole slice (sarclip_jax.models.flops)
    total_steps: int

    @property
    def total_bytes(self) -> int:
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.hbm_bytes

    def step_time_s(self, mfu: float = 0.5) -> float:
        return self.step_flops / (self.devices * self.peak_flops * mfu)

    def images_per_s(self, mfu: float = 0.5) -> float:
        return self.global_batch / self.step_time_s(mfu)

    def to_dict(self, mfu: float = 0.5) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(total_bytes=self.total_bytes, fits=self.fits, mfu=mfu, step_time_s=self.step_time_s(mfu),
                   images_per_s=self.images_per_s(mfu), run_hours=self.step_time_s(mfu) * self.total_steps / 3600)
        return out


def _tree_bytes_per_device(tree) -> int:
    import jax

    total = 0
    for leaf in jax.tree.leaves(tree):
        shard = leaf.sharding.shard_shape(leaf.shape)
        total += int(np.prod(shard)) * np.dtype(leaf.dtype).itemsize
    return total


def mesh_for(cfg, devices):
    """The config's (data, fsdp, tensor) mesh over a slice's devices, in the slice's order (so a
    v4 slice described core by core works too, which jax.make_mesh refuses)."""
    from jax.sharding import AxisType, Mesh

    from sarclip_jax import sharding

    shape = sharding.MeshConfig(**cfg.mesh).resolve(len(devices))
    return Mesh(np.array(devices, dtype=object).reshape(shape), sharding.MESH_AXES,
                axis_types=(AxisType.Auto,) * len(shape))


def _model_config(cfg, loop):
    """The run's model config; a tokenizer the run would train first counts by its planned size."""
    import dataclasses as dc

    from etils import epath

    spec = str(cfg.data.tokenizer) if "data" in cfg else ""
    build = cfg.get("tokenizer_build") or {}
    if spec.endswith(".model") and not epath.Path(spec).exists() and build.get("enabled"):
        plain = cfg.copy_and_resolve_references()
        plain.data.tokenizer = "clip"
        model_cfg = loop.model_config(plain)
        vocab, length = int(build["vocab_size"]), int(cfg.data.get("context_length", model_cfg.text.context_length))
        return model_cfg.replace(text=dc.replace(model_cfg.text, vocab_size=vocab, eos_id=vocab - 1,
                                                 context_length=length))
    return loop.model_config(cfg)


@dataclasses.dataclass
class Compiled:
    """A train step compiled for a slice, with what went into it."""

    compiled: Any
    devices: list
    mesh: Any
    model_cfg: Any
    state: Any
    batch: dict


def compile_train_step(cfg, topology: str) -> Compiled:
    """cfg's exact train step (model, loss, optimizer, mesh, batch) compiled for `topology`."""
    import jax
    import jax.numpy as jnp

    from sarclip_jax.train import loop, train_state, trainer

    devices = topology_devices(topology)
    mesh = mesh_for(cfg, devices)
    model_cfg = _model_config(cfg, loop)
    step_cfg = loop.step_config(cfg)
    t = trainer.build(model_cfg, cfg.optim, mesh, cfg.total_steps, step_cfg)
    state = train_state.abstract_state(t.shardings, jax.eval_shape(lambda: t.init_state(cfg.seed)))
    size, length = model_cfg.vision.image_size, model_cfg.text.context_length
    per_image = (step_cfg.captions_per_image,) if step_cfg.captions_per_image > 1 else ()
    batch = {"image": jax.ShapeDtypeStruct((cfg.batch_size, size, size, 3), jnp.float32,
                                           sharding=t.batch_shardings["image"]),
             "text": jax.ShapeDtypeStruct((cfg.batch_size, *per_image, length), jnp.int32,
                                          sharding=t.batch_shardings["text"])}
    for field in step_cfg.batch_ids:  # two int32 halves of each caption's (or label's) 64-bit id, one per image
        batch[field] = jax.ShapeDtypeStruct((cfg.batch_size, 2), jnp.int32, sharding=t.batch_shardings["text"])
    try:
        compiled = t.train_step.lower(state, batch).compile()
    except Exception as e:  # the TPU compiler says RESOURCE_EXHAUSTED when the program does not fit
        if "RESOURCE_EXHAUSTED" in str(e) or "exceeds" in str(e):
            raise PlanError(f"{topology}: the step does not fit: {str(e).splitlines()[0][:400]}") from e
        raise
    return Compiled(compiled, devices, mesh, model_cfg, state, batch)


def plan_train_step(cfg, topology: str) -> Plan:
    """Compiles cfg's exact train step for `topology` and returns its per-device memory."""
    from sarclip_jax.models import flops
    from sarclip_jax.train import loop

    c = compile_train_step(cfg, topology)
    step_flops = flops.train_step_flops(c.model_cfg, cfg.batch_size, loop.step_config(cfg).captions_per_image)
    generation, hbm, peak = chip_of(c.devices[0])
    mem = c.compiled.memory_analysis()
    return Plan(topology=topology, devices=len(c.devices), generation=generation, mesh=dict(c.mesh.shape),
                global_batch=int(cfg.batch_size), argument_bytes=int(mem.argument_size_in_bytes),
                output_bytes=int(mem.output_size_in_bytes), alias_bytes=int(mem.alias_size_in_bytes),
                temp_bytes=int(mem.temp_size_in_bytes), params_bytes=_tree_bytes_per_device(c.state["params"]),
                opt_state_bytes=_tree_bytes_per_device(c.state["opt_state"]),
                batch_bytes=_tree_bytes_per_device(c.batch), hbm_bytes=hbm, peak_flops=peak,
                step_flops=float(step_flops), total_steps=int(cfg.total_steps))


@dataclasses.dataclass
class EvalPlan:
    """The evaluators' forward passes (image and text towers, the train state's parameter
    shardings) compiled for a slice: bytes per chip of each, all buffers counted."""

    topology: str
    batch: int  # global evaluation batch
    image_bytes: int
    text_bytes: int
    hbm_bytes: float

    @property
    def fits(self) -> bool:
        return max(self.image_bytes, self.text_bytes) <= self.hbm_bytes

    def to_dict(self) -> dict[str, Any]:
        return dict(dataclasses.asdict(self), fits=self.fits)


def eval_batch(cfg, shards: int) -> int:
    """The largest batch of cfg's evaluators (256 without any), rounded up to the batch shards."""
    sizes = [int(e.get("batch_size", 256)) for e in (cfg.get("evals") or {}).values()] or [256]
    return -(-max(sizes) // shards) * shards


def plan_eval_forward(cfg, topology: str, batch_size: int = 0) -> EvalPlan:
    """Compiles the evaluation forward of cfg's model for `topology` (batch: `eval_batch`)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from sarclip_jax import sharding
    from sarclip_jax.train import loop, train_state, trainer

    devices = topology_devices(topology)
    mesh = mesh_for(cfg, devices)
    model_cfg = _model_config(cfg, loop)
    t = trainer.build(model_cfg, cfg.optim, mesh, cfg.total_steps, loop.step_config(cfg))
    params = train_state.abstract_state(t.shardings, jax.eval_shape(lambda: t.init_state(cfg.seed)))["params"]
    batch = batch_size or eval_batch(cfg, sharding.batch_divisor(mesh))
    rows = sharding.batch_sharding(mesh)
    size, length = model_cfg.vision.image_size, model_cfg.text.context_length

    def total(fn, x) -> int:
        def forward(p, inputs):
            return fn(nnx.merge(t.graphdef, p), inputs).astype(jnp.float32)

        compiled = jax.jit(forward, in_shardings=(t.shardings["params"], rows), out_shardings=rows).lower(
            params, x).compile()
        mem = compiled.memory_analysis()
        return int(mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
                   + mem.temp_size_in_bytes)

    image = total(lambda m, x: m.encode_image(x, normalize=True),
                  jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32, sharding=rows))
    text = total(lambda m, x: m.encode_text(x, normalize=True),
                 jax.ShapeDtypeStruct((batch, length), jnp.int32, sharding=rows))
    return EvalPlan(topology=topology, batch=batch, image_bytes=image, text_bytes=text, hbm_bytes=chip_of(devices[0])[1])
