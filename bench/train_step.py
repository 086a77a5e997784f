"""Training images per second: this project's JAX step against OpenCLIP in PyTorch.

    python bench/train_step.py                      # ViT-B-32, batch 8, float32, CPU
    python bench/train_step.py --model tiny --batch 64

Both sides run the same architecture, batch, precision and optimizer (AdamW, CLIP loss), in
one process, interleaved step for step, and report the median of --steps timed steps after
warm-up; the ratio is JAX images/s over PyTorch images/s. Needs the test extra (torch,
open_clip_torch).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import ml_collections
import numpy as np

from sarclip_jax import sharding
from sarclip_jax.convert.reference import openclip_model, random_inputs
from sarclip_jax.models import get_model_config
from sarclip_jax.train import trainer

OPTIM = dict(lr=1e-5, end_lr=0.0, warmup_steps=0, b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.01, clip_norm=1.0, freeze=[])


def jax_step(name: str, images, ids):
    mesh = sharding.make_mesh(sharding.MeshConfig(1, 1, 1), devices=jax.devices()[:1])
    t = trainer.build(get_model_config(name), ml_collections.ConfigDict(OPTIM), mesh, total_steps=10_000)
    data = {"image": jax.device_put(images, t.batch_shardings["image"]),
            "text": jax.device_put(ids, t.batch_shardings["text"])}
    holder = {"state": t.init_state(seed=0)}

    def run():
        holder["state"], m = t.train_step(holder["state"], data)
        jax.block_until_ready(m["loss"])

    return run


def torch_step(name: str, cfg, images, ids):
    import torch

    from sarclip_jax.convert.reference import open_clip

    model = openclip_model(name, cfg).train()
    loss_fn = open_clip().ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    t = torch.from_numpy(ids.astype(np.int64))

    def run():
        opt.zero_grad(set_to_none=True)
        img, txt, scale = model(x, t)
        loss = loss_fn(img, txt, scale)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()

    import torch

    cfg = get_model_config(args.model)
    images, ids = random_inputs(cfg, args.batch)
    runners = {"jax": jax_step(args.model, images, ids), "torch": torch_step(args.model, cfg, images, ids)}
    for _ in range(args.warmup):
        for run in runners.values():
            run()
    times = {k: [] for k in runners}
    for _ in range(args.steps):
        for name, run in runners.items():  # interleaved, so machine noise hits both alike
            t = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"{args.model}, batch {args.batch}, float32, {os.cpu_count()} CPU cores, torch threads "
          f"{torch.get_num_threads()}, jax {jax.__version__} on {jax.devices()[0].device_kind}")
    for k in runners:
        print(f"  {k:>5}: {med[k]:.3f} s/step (median of {args.steps}), {args.batch / med[k]:.2f} images/s")
    print(f"  ratio jax/torch images per second: {med['torch'] / med['jax']:.2f}")


if __name__ == "__main__":
    main()
