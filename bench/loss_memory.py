"""Fused vs reference contrastive loss: compiled peak memory per device and step time.

    python bench/loss_memory.py                         # 8 virtual CPU devices, batches 1k..64k
    python bench/loss_memory.py --batches 65536 262144  # on an accelerator
    python bench/loss_memory.py --block-size 1024       # force the ring with a fixed tile

Memory is XLA's own account of the compiled value-and-gradient program (arguments + outputs +
temporaries, per device). The reference materialises the B x B logits; it is skipped where that
matrix alone would exceed --reference-limit-gb per device. Times are medians of --repeats runs,
fused and reference interleaved (this machine's speed drifts); batches above --max-timed-batch
are compiled for memory only. The "tile" column is what the loss chose: "dense" for the plain
per-device rows, else the ring's column tile.
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

from sarclip_jax.losses import clip_loss, fused_clip_loss, tiling


def compile_grad(fn, args):
    compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2))).lower(*args).compile()
    mem = compiled.memory_analysis()
    return compiled, mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes


def interleaved_medians(compiled_fns, args, repeats: int) -> list[float]:
    for f in compiled_fns:
        jax.block_until_ready(f(*args))
    times = [[] for _ in compiled_fns]
    for _ in range(repeats):
        for f, ts in zip(compiled_fns, times):
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            ts.append(time.perf_counter() - t)
    return [float(np.median(ts)) for ts in times]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--block-size", type=int, default=0, help="the ring's tile; 0: the loss chooses")
    p.add_argument("--memory-mib", type=float, default=tiling.DEFAULT_MEMORY_BYTES / 2**20,
                   help="the loss's memory budget per device when it chooses")
    p.add_argument("--max-timed-batch", type=int, default=16384)
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--reference-limit-gb", type=float, default=1.0)
    p.add_argument("--on-device", action="store_true", help="use the real devices (GPU/TPU), not 8 CPU ones")
    args = p.parse_args()

    devices = jax.devices()
    mesh = jax.make_mesh((len(devices),), ("data",), axis_types=(AxisType.Auto,))
    sharded = NamedSharding(mesh, P("data"))
    budget = int(args.memory_mib * 2**20)
    print(f"{len(devices)} x {devices[0].device_kind}, embedding dim {args.dim}, {args.dtype}, "
          f"tile {args.block_size or f'chosen within {args.memory_mib:g} MiB'}")
    header = (f"{'global batch':>12} | {'tile':>5} | {'fused MiB/dev':>13} | {'ref MiB/dev':>11} | {'mem ratio':>9} | "
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
        block = args.block_size or tiling.choose(batch // len(devices), len(devices), args.dim,
                                                 jnp.dtype(args.dtype).itemsize, budget)
        fused = lambda i, t, s: fused_clip_loss(i, t, s, mesh=mesh, batch_axes=("data",),
                                                block_size=args.block_size or None, memory_bytes=budget)[0]
        tile = "dense" if block == tiling.DENSE else str(block)
        f_fn, f_mem = compile_grad(fused, (img, txt, scale))
        logits_gb = batch * batch * 4 / len(devices) / 2**30
        reference = logits_gb <= args.reference_limit_gb
        r_fn, r_mem = compile_grad(clip_loss, (img, txt, scale)) if reference else (None, None)
        timed = batch <= args.max_timed_batch
        if timed:
            f_time, *r_time = interleaved_medians([f_fn] + ([r_fn] if reference else []),
                                                  (img, txt, scale), args.repeats)
        cols = [f"{batch:>12}", f"{tile:>5}", f"{f_mem / 2**20:>13.1f}",
                f"{r_mem / 2**20:>11.1f}" if reference else f"{'(skipped)':>11}",
                f"{r_mem / f_mem:>9.1f}" if reference else f"{'-':>9}",
                f"{f_time:>8.3f}" if timed else f"{'-':>8}",
                f"{r_time[0]:>8.3f}" if timed and reference else f"{'-':>8}",
                f"{f_time / r_time[0]:>10.2f}" if timed and reference else f"{'-':>10}"]
        print(" | ".join(cols))


if __name__ == "__main__":
    main()
