"""`sarclip plan`: compile a config's train step and its evaluation forward for a TPU slice on
this machine, and say whether they fit and how fast training would run.

    sarclip plan --config configs/sarclip1m.py:model=ViT-L-14-quickgelu --topology v5e:2x4 --topology v5p:2x2x1
    sarclip plan --config configs/sarclip1m.py:model=ViT-B-16 --topology v5p:4x4x4 --config.batch_size=65536
    sarclip plan --config configs/default.py --topology v5e:2x2 --find-max-batch --json plan.json

Needs libtpu (`pip install -e ".[tpu]"`), not a TPU: the real TPU compiler runs here and reports
each chip's memory. Step time and images/s follow from the model's FLOPs (counted from the config)
at the chip's peak bf16 rate and the stated MFU. GPUs cannot be compiled for without one.
"""

from __future__ import annotations

import argparse
import json

GIB = 2**30


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="compile a train step for a TPU slice: memory per chip, speed",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config file, optionally with ':arguments'")
    p.add_argument("--topology", action="append", required=True, help="TPU slice, e.g. v5e:2x4; repeat for several")
    p.add_argument("--mfu", type=float, default=0.5, help="model FLOPs utilisation assumed for the projections")
    p.add_argument("--find-max-batch", action="store_true", help="also search the largest global batch that fits")
    p.add_argument("--json", default="", help="write the plans here as JSON")
    p.set_defaults(func=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the slice is described, not used: no device probe
    from sarclip_jax.config_loading import apply_overrides, load_config, split_overrides
    from sarclip_jax.train import aot

    try:
        cfg = apply_overrides(load_config(args.config), split_overrides(getattr(args, "overrides", [])))
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise SystemExit(f"sarclip plan: {e}") from None
    plans, rows = [], []
    for topology in args.topology:
        try:
            plan = aot.plan_train_step(cfg, topology)
        except aot.PlanError as e:
            print(f"{topology}: {e}")
            rows.append({"topology": topology, "error": str(e)})
            continue
        entry = plan.to_dict(args.mfu)
        entry["eval"] = aot.plan_eval_forward(cfg, topology).to_dict()
        if args.find_max_batch:
            entry["max_global_batch"] = find_max_batch(cfg, topology, plan)
        plans.append(plan)
        rows.append(entry)
    print(table(plans, args.mfu))
    for row in rows:
        if "eval" in row:
            e = row["eval"]
            print(f"{row['topology']}: evaluation forward at batch {e['batch']}: image tower "
                  f"{_with_unit(e['image_bytes'])}, text tower {_with_unit(e['text_bytes'])} per chip"
                  f"{'' if e['fits'] else ' (does NOT fit: lower the evaluators batch_size)'}")
    for plan in plans:
        if not plan.fits:
            print(f"{plan.topology}: does NOT fit ({plan.total_bytes / GIB:.1f} GiB of {plan.hbm_bytes / GIB:.1f} "
                  f"GiB per chip). Try: {'; '.join(suggestions(cfg, plan))}")
    for row in rows:
        if "max_global_batch" in row:
            print(f"{row['topology']}: largest global batch that fits: {row['max_global_batch']}")
    if args.json:
        from etils import epath

        epath.Path(args.json).write_text(json.dumps({"config": args.config, "plans": rows}, indent=2) + "\n")
    evals_fit = all(row["eval"]["fits"] for row in rows if "eval" in row)
    return 0 if plans and all(p.fits for p in plans) and evals_fit else 1


def _with_unit(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= 0.01 * GIB else f"{n / 2**20:.1f} MiB"


def _size(n: float) -> str:  # the table's columns are in GiB: only MiB figures name their unit
    return _with_unit(n).removesuffix(" GiB")


def table(plans, mfu: float) -> str:
    head = ("| topology | mesh | batch | params | opt state | batch in | temporaries | total / HBM (GiB per chip) | "
            f"fits | TFLOP/step | step s @{mfu:.0%} MFU | images/s | run h |")
    lines = [head, "|" + "---|" * 13]
    for p in plans:
        mesh = "x".join(str(v) for v in p.mesh.values())
        lines.append(
            f"| {p.topology} | {mesh} | {p.global_batch} | {_size(p.params_bytes)} | {_size(p.opt_state_bytes)} | "
            f"{_size(p.batch_bytes)} | {_size(p.temp_bytes)} | {_size(p.total_bytes)} / {p.hbm_bytes / GIB:.1f} | "
            f"{'yes' if p.fits else '**no**'} | {p.step_flops / 1e12:.2f} | {p.step_time_s(mfu):.3f} | "
            f"{p.images_per_s(mfu):,.0f} | {p.step_time_s(mfu) * p.total_steps / 3600:.1f} |")
    return "\n".join(lines)


def suggestions(cfg, plan) -> list[str]:
    """What usually brings a step under the chip's memory, in the order worth trying."""
    out = []
    if cfg.model.remat != "full":
        out.append(f"--config.model.remat=full (now {cfg.model.remat!r})")
    if cfg.mesh.fsdp == 1 and plan.devices > 1:
        out.append(f"--config.mesh.fsdp={plan.devices} --config.mesh.data=1 (shard parameters and Adam moments)")
    out.append(f"--config.accum_steps={2 * cfg.accum_steps} (micro-batches; the loss still sees the whole batch)")
    if cfg.loss.block_size > 0:  # a forced ring tile: halve it, or let the loss choose
        out.append(f"--config.loss.block_size={max(cfg.loss.block_size // 2, 128)} (smaller loss tiles) "
                   "or --config.loss.block_size=0 (the loss chooses its tile within loss.memory_mib)")
    else:
        out.append(f"--config.loss.memory_mib={cfg.loss.memory_mib / 2:g} (the loss's chosen tile within "
                   f"half the memory; now {cfg.loss.memory_mib:g} MiB per device)")
    return out


def find_max_batch(cfg, topology: str, plan) -> int:
    """Largest global batch (a multiple of the batch shards) whose step fits, by doubling then bisection."""
    from sarclip_jax.train import aot

    shards = plan.mesh.get("data", 1) * plan.mesh.get("fsdp", 1)

    def fits(per_shard: int) -> bool:
        trial = cfg.copy_and_resolve_references()
        trial.batch_size = per_shard * shards
        try:
            return aot.plan_train_step(trial, topology).fits
        except aot.PlanError:
            return False

    lo, hi = 0, max(plan.global_batch // shards, 1)
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * shards
