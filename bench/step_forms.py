"""Two forms of the main job's train step on XLA:CPU, measured in one invocation: the exact GELU
as jax.nn.gelu's erfc form or as x/2 (1 + erf(x/sqrt 2)) (torch's formula, which
`sarclip_jax.models.layers.gelu` uses), and the residual blocks under lax.scan or unrolled.

    python bench/step_forms.py           # the main job's shapes (tiny's vision MLP, batch 64)
    python bench/step_forms.py --tokens 4160 --width 96 --steps 20 --no-step

Times the MLP block (fc, GELU, proj) forward and backward with each GELU, then the main job's
whole train step (configs/default.py: model, loss, AdamW on one fixed batch) scanned with the erfc
GELU, scanned with the erf GELU, and unrolled with the erf GELU; rounds interleaved so that all see
the same machine. Prints ms and the ratio to the first of each group, the largest difference
of the two GELUs over [-10, 10] (and from torch's GELU when torch is installed), and the compile
time of the random initialisation with default options and with the CPU's (LLVM -O1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def erfc_form(x):
    import jax

    return jax.nn.gelu(x, approximate=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=64 * 65, help="rows of the MLP's input")
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--steps", type=int, default=15, help="timed calls per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data-dir", default="data/tensorflow_datasets", help="for the train step; built when missing")
    p.add_argument("--no-step", action="store_true", help="time the MLP block only")
    args = p.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np

    from sarclip_jax.models import layers

    forms = {"jax.nn.gelu (erfc)": erfc_form, "layers.gelu (erf)": layers.gelu}

    grid = jnp.linspace(-10.0, 10.0, 200_001, dtype=jnp.float32)
    diff = float(jnp.max(jnp.abs(erfc_form(grid) - layers.gelu(grid))))
    print(f"largest |difference| of the two forms on [-10, 10]: {diff:.2e}")
    try:
        import torch

        ref = torch.nn.functional.gelu(torch.from_numpy(np.array(grid))).numpy()
        for name, f in forms.items():
            print(f"  {name} vs torch: {float(np.max(np.abs(np.asarray(f(grid)) - ref))):.2e}")
    except ImportError:
        pass

    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k1, (args.tokens, args.width))
    w_fc = jax.random.normal(k2, (args.width, 4 * args.width)) * args.width**-0.5
    w_proj = jax.random.normal(k3, (4 * args.width, args.width)) * (4 * args.width) ** -0.5
    calls = {}
    for name, act in forms.items():
        def loss(x, a, b, act=act):
            return jnp.sum(jnp.square(act(x @ a) @ b))
        grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
        calls[f"MLP fwd+bwd, {name}"] = lambda g=grad: g(x, w_fc, w_proj)
    if not args.no_step:
        calls.update(_train_steps(args.data_dir, forms))  # builds the data and tokenizer when missing
        _init_compile_times(args.data_dir)

    times = {name: [] for name in calls}
    for f in calls.values():
        jax.block_until_ready(f())
    for _ in range(args.rounds):
        for name, f in calls.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                out = f()
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - start) / args.steps)
    for group in ("MLP", "train step"):
        names = [n for n in calls if n.startswith(group)]
        first = statistics.median(times[names[0]]) if names else 0.0
        for n in names:
            t = statistics.median(times[n])
            print(f"{n:48} {t * 1e3:8.1f} ms  {t / first:5.2f}")


def _init_compile_times(data_dir: str) -> None:
    """Compile time of the main job's random initialisation, default options against the CPU's."""
    import jax
    import numpy as np
    from flax import nnx

    from sarclip_jax.config_loading import load_config
    from sarclip_jax.models.clip import CLIP
    from sarclip_jax.train import loop, train_state

    model_cfg = loop.model_config(load_config(f"configs/default.py:data_dir={data_dir}"))

    def fresh():
        return nnx.to_pure_dict(nnx.state(CLIP(model_cfg, rngs=nnx.Rngs(0)), nnx.Param))

    lowered = jax.jit(fresh).lower()
    results = {}
    for name, options in (("default", None), ("CPU_INIT_COMPILER_OPTIONS", train_state.CPU_INIT_COMPILER_OPTIONS)):
        start = time.perf_counter()
        compiled = lowered.compile(options)
        results[name] = (time.perf_counter() - start, jax.tree.leaves(compiled()))
    (t0, a), (t1, b) = results.values()
    same = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    print(f"initialisation compile: default {t0:.2f} s, {train_state.CPU_INIT_COMPILER_OPTIONS} {t1:.2f} s "
          f"(ratio {t1 / t0:.2f}); parameters bit-identical: {same}")


def _train_steps(data_dir: str, forms: dict) -> dict:
    """The main job's step (configs/default.py) built once per GELU form, on one fixed batch."""
    from sarclip_jax import sharding
    from sarclip_jax.cli import prepare
    from sarclip_jax.config_loading import load_config
    from sarclip_jax.data import pipeline
    from sarclip_jax.models import layers
    from sarclip_jax.train import loop, trainer

    cfg = load_config(f"configs/default.py:data_dir={data_dir}")
    prepare.ensure_dataset(cfg)
    prepare.ensure_tokenizer(cfg)
    mesh = sharding.make_mesh(sharding.MeshConfig(**cfg.mesh))
    batch = next(pipeline.make_data_fn(pipeline.PipelineConfig.from_dict(cfg.data))(cfg.batch_size, 0, 1, cfg.seed))
    batch = sharding.global_batch(batch, mesh)
    (erfc_name, erfc), (erf_name, erf) = forms.items()
    variants = [("scanned", erfc_name, erfc), ("scanned", erf_name, erf), ("unrolled", erf_name, erf)]
    kept, calls = layers.gelu, {}
    try:
        for kind, name, act in variants:
            layers.gelu = act  # the blocks pick the activation up when they are built
            model_cfg = loop.model_config(cfg).replace(unroll_layers=kind == "unrolled")
            t = trainer.build(model_cfg, cfg.optim, mesh, cfg.total_steps, loop.step_config(cfg))
            holder = {"state": t.init_state(cfg.seed)}  # the step donates its state: thread it through
            step = t.train_step.lower(holder["state"], batch).compile()

            def call(step=step, holder=holder):
                holder["state"] = step(holder["state"], batch)[0]
                return holder["state"]
            calls[f"train step, {kind}, {name}"] = call
    finally:
        layers.gelu = kept
    return calls

if __name__ == "__main__":
    main()
