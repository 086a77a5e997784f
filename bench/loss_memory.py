"""Fused vs reference contrastive loss: compiled peak memory per device and step time.

    python bench/loss_memory.py                         # 8 virtual CPU devices, batches 1k..64k
    python bench/loss_memory.py --batches 65536 262144  # on an accelerator

Memory is XLA's own account of the compiled value-and-gradient program (arguments + outputs +
temporaries, per device). The reference materialises the B x B logits; it is skipped where that
matrix alone would exceed --reference-limit-gb per device. Times are medians of --repeats runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--on-device" not in sys.argv:
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from sarclip_jax.losses import clip_loss, fused_clip_loss


def measure(fn, args, repeats: int):
    compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2))).lower(*args).compile()
    mem = compiled.memory_analysis()
    peak = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
    return peak, float(np.median(times))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--block-size", type=int, default=1024)
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--reference-limit-gb", type=float, default=1.0)
    p.add_argument("--on-device", action="store_true", help="use the real devices (GPU/TPU), not 8 CPU ones")
    args = p.parse_args()

    devices = jax.devices()
    mesh = jax.make_mesh((len(devices),), ("data",), axis_types=(AxisType.Auto,))
    sharded = NamedSharding(mesh, P("data"))
    print(f"{len(devices)} x {devices[0].device_kind}, embedding dim {args.dim}, {args.dtype}, "
          f"block {args.block_size}")
    header = (f"{'global batch':>12} | {'fused MiB/dev':>13} | {'ref MiB/dev':>11} | {'mem ratio':>9} | "
              f"{'fused s':>8} | {'ref s':>8} | {'time ratio':>10}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for batch in args.batches:
        x = rng.standard_normal((batch, args.dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        img = jax.device_put(jnp.asarray(x, args.dtype), sharded)
        txt = jax.device_put(jnp.asarray(np.roll(x, 1, axis=1), args.dtype), sharded)
        scale = jnp.asarray(np.log(1 / 0.07), jnp.float32)
        fused = lambda i, t, s: fused_clip_loss(i, t, s, mesh=mesh, batch_axes=("data",),
                                                block_size=args.block_size)[0]
        f_mem, f_time = measure(fused, (img, txt, scale), args.repeats)
        logits_gb = batch * batch * 4 / len(devices) / 2**30
        if logits_gb <= args.reference_limit_gb:
            r_mem, r_time = measure(clip_loss, (img, txt, scale), args.repeats)
            print(f"{batch:>12} | {f_mem / 2**20:>13.1f} | {r_mem / 2**20:>11.1f} | {r_mem / f_mem:>9.1f} | "
                  f"{f_time:>8.3f} | {r_time:>8.3f} | {f_time / r_time:>10.2f}")
        else:
            print(f"{batch:>12} | {f_mem / 2**20:>13.1f} | {'(skipped)':>11} | {'-':>9} | "
                  f"{f_time:>8.3f} | {'-':>8} | {'-':>10}")


if __name__ == "__main__":
    main()
