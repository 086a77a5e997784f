"""Per-chip memory of the paper's recipes on TPU slices, from the real TPU compiler (libtpu AOT).

    python bench/tpu_plan.py                               # every recipe below, one after another
    python bench/tpu_plan.py --recipes l14-v5e8 l14-v5p8 --json /tmp/tpu_plan.json
    python bench/tpu_plan.py --recipes l14-v5e8 --set model.attention=pallas

Each recipe is `sarclip plan` of a config on a topology; the ViT-L-14 compiles take one to three
minutes each on a 2-core CPU (run one at a time). A step that does not fit is reported with the
compiler's own figure for its temporaries. The table is the one in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

GIB = 2**30
L14 = "configs/sarclip1m.py:model=ViT-L-14-quickgelu"
# name -> (config, topology, overrides)
RECIPES: dict[str, tuple[str, str, list[str]]] = {
    "l14-v5e8": (L14 + ",fsdp=8", "v5e:2x4", ["model.remat=full"]),
    "l14-v5p8": (L14, "v5p:2x2x1", []),
    "l14-v5p8-dots": (L14, "v5p:2x2x1", ["model.remat=dots"]),
    "b16-v5p128": ("configs/sarclip1m.py:model=ViT-B-16,batch_size=65536", "v5p:4x4x4", ["model.remat=full"]),
}


def plan_row(name: str, extra: list[str]) -> dict:
    from sarclip_jax.config_loading import apply_overrides, load_config
    from sarclip_jax.train import aot

    config, topology, overrides = RECIPES[name]
    overrides = overrides + extra
    cfg = apply_overrides(load_config(config), overrides)
    start = time.time()
    row = {"recipe": name, "config": config, "topology": topology, "overrides": overrides,
           "remat": cfg.model.remat, "attention": cfg.model.get("attention", "xla")}
    try:
        row.update(aot.plan_train_step(cfg, topology).to_dict())
    except aot.PlanError as e:
        row["error"] = str(e)
        found = re.search(r"HLO temporaries \(([\d.]+)G\)", str(e))
        row["temp_gib_from_error"] = float(found.group(1)) if found else None
    row["compile_s"] = round(time.time() - start, 1)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| recipe | topology | remat / attention | params | opt state | batch in | temporaries | "
             "total / HBM (GiB per chip) | fits | TFLOP/step | images/s @50% MFU |", "|" + "---|" * 11]
    for r in rows:
        knobs = f"{r['remat']} / {r['attention']}"
        if "error" in r:
            temp = r.get("temp_gib_from_error")
            lines.append(f"| {r['recipe']} | {r['topology']} | {knobs} | | | | "
                         f"{temp if temp is not None else '?'} (compiler's refusal) | over HBM | **no** | | |")
            continue
        g = lambda key: f"{r[key] / GIB:.2f}"  # noqa: E731
        lines.append(
            f"| {r['recipe']} | {r['topology']} | {knobs} | {g('params_bytes')} | {g('opt_state_bytes')} | "
            f"{g('batch_bytes')} | {g('temp_bytes')} | {g('total_bytes')} / {r['hbm_bytes'] / GIB:.1f} | "
            f"{'yes' if r['fits'] else '**no**'} | {r['step_flops'] / 1e12:.1f} | {r['images_per_s']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides for every recipe, e.g. model.attention=pallas")
    p.add_argument("--json", default="", help="also write the rows here")
    args = p.parse_args(argv)
    import os

    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the slices are described, not used
    rows = []
    for name in args.recipes:
        rows.append(plan_row(name, list(args.set)))
        print(f"{name}: compiled in {rows[-1]['compile_s']} s", file=sys.stderr)
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
