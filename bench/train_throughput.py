"""Training images per second and MFU of the JAX step, at the largest batch that fits.

    python bench/train_throughput.py --model ViT-B-16 --dtype bfloat16 --batches 1024 512 256

Tries the batches in order and reports the first that compiles and runs (a batch that does not
fit raises an out-of-memory error at compile or run time). MFU is the compiled step's FLOPs
(XLA cost analysis) over the measured time and the device's peak (sarclip_jax.train.metrics).
"""

from __future__ import annotations

import argparse
import time

import jax
import ml_collections
import numpy as np

from sarclip_jax import sharding
from sarclip_jax.models import flops as flops_lib
from sarclip_jax.models import get_model_config
from sarclip_jax.train import metrics, trainer

OPTIM = dict(lr=1e-5, end_lr=0.0, warmup_steps=0, b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.01, clip_norm=1.0, freeze=[])


def try_batch(name, dtype, remat, batch, steps):
    cfg = get_model_config(name, dtype=dtype, remat=remat)
    mesh = sharding.make_mesh(sharding.MeshConfig(data=-1))
    t = trainer.build(cfg, ml_collections.ConfigDict(OPTIM), mesh, total_steps=10_000)
    st, step, bs = t.init_state(seed=0), t.train_step, t.batch_shardings
    rng = np.random.default_rng(0)
    size = cfg.vision.image_size
    data = {"image": jax.device_put(rng.standard_normal((batch, size, size, 3)).astype(np.float32), bs["image"]),
            "text": jax.device_put(rng.integers(1, 49407, (batch, 77)).astype(np.int32), bs["text"])}
    compiled = step.lower(st, data).compile()
    flops = flops_lib.train_step_flops(cfg, batch) / mesh.size  # model FLOPs per device
    for _ in range(2):
        st, m = compiled(st, data)
    jax.block_until_ready(m["loss"])
    t = time.perf_counter()
    for _ in range(steps):
        st, m = compiled(st, data)
    jax.block_until_ready(m["loss"])
    seconds = (time.perf_counter() - t) / steps
    peak = metrics.peak_flops_per_device()
    mfu = metrics.mfu(flops, seconds, peak) if peak else float("nan")
    return seconds, flops, mfu


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--remat", default="none")
    p.add_argument("--batches", type=int, nargs="+", default=[1024, 512, 256, 128])
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    print(f"{jax.device_count()} x {jax.devices()[0].device_kind}, {args.model}, {args.dtype}, remat {args.remat}")
    for batch in args.batches:
        try:
            seconds, flops, mfu = try_batch(args.model, args.dtype, args.remat, batch, args.steps)
        except Exception as e:  # XlaRuntimeError RESOURCE_EXHAUSTED at compile or run time
            print(f"  batch {batch}: does not fit ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
            continue
        tflops = (flops or float("nan")) / seconds / 1e12
        print(f"  batch {batch}: {seconds:.3f} s/step, {batch / seconds:.0f} images/s, "
              f"{tflops:.0f} TFLOP/s per device, MFU {mfu:.1%}")
        break


if __name__ == "__main__":
    main()
