"""The main job twice in one invocation, with the standard loss (positives="pair") and the
multi-positive one (positives="text"), and the ratio of their held-out scores.

    python bench/multi_positive.py                                   # CLIP loss, the main job's 1,500 steps
    python bench/multi_positive.py --loss siglip --steps 500 --workdir /tmp/mp

Both runs share the dataset and tokenizer (built once under --data_dir) and everything but
`loss.positives`. Prints zero-shot top-1, text->image and image->text R@10 (multi_caption and
any_match) for each run and text / pair.
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


def run(workdir: pathlib.Path, positives: str, args) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "sarclip_jax.cli", "train", "--config",
           f"{REPO / 'configs' / 'default.py'}:data_dir={args.data_dir}", "--workdir", str(workdir),
           f"--config.loss.positives={positives}", f"--config.loss.kind={args.loss}",
           f"--config.total_steps={args.steps}", f"--config.eval_every={args.steps}"]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    return json.loads((workdir / "summary.json").read_text())["eval"], time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="clip", choices=("clip", "siglip"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--data_dir", default="data/tensorflow_datasets")
    ap.add_argument("--workdir", default="runs/multi_positive")
    args = ap.parse_args()
    results = {}
    for positives in ("pair", "text"):
        results[positives], seconds = run(pathlib.Path(args.workdir) / f"{args.loss}_{positives}", positives, args)
        print(f"{args.loss} positives={positives}: {args.steps} steps in {seconds:.0f} s")
    print(f"\n| metric ({args.loss}, {args.steps} steps) | pair | text | text / pair |\n|---|---:|---:|---:|")
    for m in METRICS:
        pair, text = results["pair"].get(m), results["text"].get(m)
        ratio = f"{text / pair:.3f}" if pair else "-"
        print(f"| {m} | {pair:.1f} | {text:.1f} | {ratio} |" if pair is not None else f"| {m} | - | - | - |")


if __name__ == "__main__":
    main()
