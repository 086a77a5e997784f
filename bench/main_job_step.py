"""Where the main job's time goes on a CPU: its train step at two text context lengths, and its
input pipeline, measured in one invocation.

    python bench/main_job_step.py                                  # builds the data when missing
    python bench/main_job_step.py --data-dir data/tensorflow_datasets --contexts 32 77 --steps 50

The step is the trainer's own (model, loss, AdamW) on one fixed batch of the embedded default's
data, interleaved over the context lengths in rounds so that both see the same machine, and the
first context's step fed by the trainer's Grain iterator (after one epoch of it), as in the
training loop: what the pipeline costs there, sharing the cores; then the iterator alone. Prints
ms per step, the ratio to the first context length, model FLOPs per step and the rate they imply.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="data/tensorflow_datasets")
    p.add_argument("--contexts", type=int, nargs="+", default=[32, 77])
    p.add_argument("--steps", type=int, default=20, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", type=int, default=100, help="pipeline batches timed")
    args = p.parse_args()

    import jax

    from sarclip_jax import sharding
    from sarclip_jax.cli import prepare
    from sarclip_jax.config_loading import apply_overrides, load_config
    from sarclip_jax.data import pipeline
    from sarclip_jax.models import flops
    from sarclip_jax.train import loop, trainer

    base = load_config(f"configs/default.py:data_dir={args.data_dir}")
    prepare.ensure_dataset(base)
    prepare.ensure_tokenizer(base)
    mesh = sharding.make_mesh(sharding.MeshConfig(**base.mesh))

    runs = {}
    for ctx in args.contexts:
        cfg = apply_overrides(copy.deepcopy(base), [f"data.context_length={ctx}"])  # apply_overrides edits in place
        it = pipeline.make_data_fn(pipeline.PipelineConfig.from_dict(cfg.data))(cfg.batch_size, 0, 1, cfg.seed)
        model_cfg = loop.model_config(cfg)
        t = trainer.build(model_cfg, cfg.optim, mesh, cfg.total_steps, loop.step_config(cfg))
        state, batch = t.init_state(cfg.seed), sharding.global_batch(next(it), mesh)
        step = t.train_step.lower(state, batch).compile()
        for _ in range(3):
            state, _ = step(state, batch)
        runs[ctx] = dict(step=step, state=state, batch=batch, it=it, times=[],
                         flops=flops.train_step_flops(model_cfg, cfg.batch_size))

    fed = runs[args.contexts[0]]
    # One epoch first, so that the timed batches see the steady state (data.record_cache_mib fills
    # in the first epoch).
    for _ in range(len(pipeline.data_source(pipeline.PipelineConfig.from_dict(base.data))) // base.batch_size):
        next(fed["it"])
    fed_times = []  # the first context's step fed by its pipeline, as in the trainer's loop
    for _ in range(args.rounds):
        for r in runs.values():
            jax.block_until_ready(r["state"])
            start = time.perf_counter()
            for _ in range(args.steps):
                r["state"], _ = r["step"](r["state"], r["batch"])
            jax.block_until_ready(r["state"])
            r["times"].append((time.perf_counter() - start) / args.steps)
        jax.block_until_ready(fed["state"])
        start = time.perf_counter()
        for _ in range(args.steps):
            fed["state"], _ = fed["step"](fed["state"], sharding.global_batch(next(fed["it"]), mesh))
        jax.block_until_ready(fed["state"])
        fed_times.append((time.perf_counter() - start) / args.steps)

    it = runs[args.contexts[0]]["it"]
    start = time.perf_counter()
    for _ in range(args.batches):
        next(it)
    data_ms = (time.perf_counter() - start) / args.batches * 1e3

    first = statistics.median(runs[args.contexts[0]]["times"])
    print(f"{'context':>8} | {'ms/step':>8} | {'ratio':>6} | {'GFLOP/step':>10} | {'GFLOP/s':>8}")
    for ctx, r in runs.items():
        s = statistics.median(r["times"])
        print(f"{ctx:>8} | {s * 1e3:8.1f} | {s / first:6.2f} | {r['flops'] / 1e9:10.2f} | {r['flops'] / s / 1e9:8.1f}")
    fed_s = statistics.median(fed_times)
    print(f"context {args.contexts[0]} fed by the pipeline: {fed_s * 1e3:.1f} ms per step, "
          f"{fed_s / first:.2f} x the fixed batch")
    print(f"input pipeline alone: {data_ms:.1f} ms per batch of {base.batch_size}")


if __name__ == "__main__":
    main()
