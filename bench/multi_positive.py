"""The main job once per loss arm in one invocation, and the ratio of each arm's held-out
scores to the first arm's.

    python bench/multi_positive.py                                   # pair vs text, CLIP, 1,500 steps
    python bench/multi_positive.py --arms pair,label --label_weight 1.0
    python bench/multi_positive.py --loss siglip --steps 500 --workdir /tmp/mp
    python bench/multi_positive.py --arms pair,label --set model.vision_pool_type=tok   # any config field

Arms: "pair" (the standard loss: an image's own caption is its one positive), "text" (every
caption of the same text is a positive: `loss.positives="text"`) and "label" (pair, plus
label_weight times the loss whose positives are the same-label pairs: `loss.label_weight`).
The runs share the dataset and tokenizer (built once under --data_dir) and everything but the
loss settings. Prints zero-shot top-1, text->image and image->text R@10 (multi_caption and
any_match) for each arm and each arm / the first.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
METRICS = ("zero_shot/top1", "retrieval/t2i_r@10", "retrieval/i2t_r@10", "retrieval_any_match/t2i_r@10")


def arm_settings(arm: str, label_weight: float) -> list[str]:
    if arm not in ("pair", "text", "label"):
        raise SystemExit(f"unknown arm {arm!r}: pair, text or label")
    positives = "text" if arm == "text" else "pair"
    weight = label_weight if arm == "label" else 0.0
    return [f"--config.loss.positives={positives}", f"--config.loss.label_weight={weight}"]


def run(workdir: pathlib.Path, arm: str, args) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "sarclip_jax.cli", "train", "--config",
           f"{REPO / 'configs' / 'default.py'}:data_dir={args.data_dir}", "--workdir", str(workdir),
           *arm_settings(arm, args.label_weight), f"--config.loss.kind={args.loss}",
           f"--config.total_steps={args.steps}", f"--config.eval_every={args.steps}",
           *(f"--config.{s}" for s in args.set)]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    return json.loads((workdir / "summary.json").read_text())["eval"], time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="clip", choices=("clip", "siglip"))
    ap.add_argument("--arms", default="pair,text", help="comma-separated: pair, text, label")
    ap.add_argument("--label_weight", type=float, default=1.0, help="the label arm's loss.label_weight")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--data_dir", default="data/tensorflow_datasets")
    ap.add_argument("--workdir", default="runs/multi_positive")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a config override for every arm (repeatable), e.g. model.vision_pool_type=tok")
    args = ap.parse_args()
    arms = args.arms.split(",")
    for arm in arms:
        arm_settings(arm, args.label_weight)  # an unknown arm fails before the first run
    results = {}
    for arm in arms:
        results[arm], seconds = run(pathlib.Path(args.workdir) / f"{args.loss}_{arm}", arm, args)
        print(f"{args.loss} {arm}: {args.steps} steps in {seconds:.0f} s")
    first = arms[0]
    names = [f"{a} (w={args.label_weight:g})" if a == "label" else a for a in arms]
    print(f"\n| metric ({args.loss}, {args.steps} steps) | " + " | ".join(names)
          + "".join(f" | {a} / {first}" for a in arms[1:]) + " |")
    print("|---|" + "---:|" * (2 * len(arms) - 1))
    for m in METRICS:
        values = [results[a].get(m) for a in arms]
        cells = [f"{v:.1f}" if v is not None else "-" for v in values]
        ratios = [f"{v / values[0]:.3f}" if v is not None and values[0] else "-" for v in values[1:]]
        print(f"| {m} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
