"""`sarclip eval`: evaluate one or more checkpoints on the same data, side by side.

    sarclip eval --config configs/default.py --checkpoint runs/default --out reports/default
    sarclip eval --config configs/default.py --checkpoint clip_b32.safetensors --model ViT-B-32 \\
        --checkpoint runs/sar_b32/model --config.evals.zero_shot.batch_size=32 --only zero_shot

The config file is any config whose `evals` section maps names to evaluator entries (the
training configs have one; see eval/__init__.py for the kinds). A checkpoint is a model
directory, a training work directory holding one, or an OpenCLIP/SARCLIP weight file
(.safetensors, .pt) whose architecture `--model` names. Each evaluator's data is read once and
every checkpoint is scored on it; reports go to OUT/<checkpoint>/<evaluator>/ and the side-by-side
table to stdout, OUT/comparison.md and OUT/comparison.json.
"""

from __future__ import annotations

import argparse
import json
import time


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate checkpoints: retrieval, zero-shot, linear probe",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config file with an `evals` section, optionally ':arguments'")
    p.add_argument("--checkpoint", action="append", required=True,
                   help="model directory, work directory or weight file; repeat to compare several")
    p.add_argument("--model", default=None, help="architecture of weight-file checkpoints, e.g. ViT-B-32")
    p.add_argument("--out", default="eval_reports", help="report folder (local or gs://)")
    p.add_argument("--only", default="", help="comma-separated evaluator names to run (default: all)")
    p.add_argument("--dtype", default="float32", help="compute dtype of the loaded models")
    p.set_defaults(func=run, accepts_overrides=True)


def select_evals(cfg, only: str) -> dict:
    evals = cfg.get("evals")
    if not evals:
        raise ValueError("the config has no `evals` section (name -> evaluator entry)")
    wanted = [n for n in only.split(",") if n]
    unknown = sorted(set(wanted) - set(evals))
    if unknown:
        raise ValueError(f"--only names {unknown} not in the config's evals {sorted(evals)}")
    return {name: entry for name, entry in evals.items() if not wanted or name in wanted}


def run(args: argparse.Namespace) -> int:
    from sarclip_jax.config_loading import apply_overrides, load_config, split_overrides

    try:
        cfg = apply_overrides(load_config(args.config), split_overrides(getattr(args, "overrides", [])))
        entries = select_evals(cfg, args.only)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise SystemExit(f"sarclip eval: {e}") from None
    table = evaluate(entries, args.checkpoint, model_name=args.model, out=args.out, dtype=args.dtype)
    print(table)
    return 0


def evaluate(entries: dict, checkpoints: list[str], *, model_name: str | None, out: str, dtype: str = "float32",
             log=print) -> str:
    """Runs every evaluator on every checkpoint; returns the side-by-side Markdown table."""
    from etils import epath

    import sarclip_jax
    from sarclip_jax import evaluation
    from sarclip_jax.evaluation import compare, embed

    out_dir = epath.Path(out)
    evaluators = {}
    for name, entry in entries.items():
        entry = dict(entry)
        entry.setdefault("name", name)
        evaluators[name] = evaluation.build_evaluator(entry.get("kind", ""), entry)
    labels = compare.column_labels(checkpoints)
    columns, details = {}, {}
    for label, checkpoint in zip(labels, checkpoints, strict=True):
        try:
            model, _, tokenizer = sarclip_jax.load(checkpoint, model_name=model_name, dtype=dtype)
        except (ValueError, FileNotFoundError) as e:
            raise SystemExit(f"sarclip eval: cannot load {checkpoint}: {e}") from None
        run_info = {"checkpoint": checkpoint, "model": model_name or "", "label": label}
        columns[label], details[label] = [], {}
        with embed.shared_images():  # evaluators of one split embed its images once per checkpoint
            for name, ev in evaluators.items():
                ev.tokenizer = tokenizer  # the tokenizer that belongs to this checkpoint
                t0 = time.time()
                metrics = ev.run(model)
                columns[label] += metrics
                details[label][name] = {k: str(v) for k, v in ev.write_report(out_dir / label / name, run_info).items()}
                log(f"[{label}] {name}: {len(metrics)} metrics in {time.time() - t0:.1f}s -> {out_dir / label / name}")
    header, rows = compare.side_by_side(columns)
    table = compare.markdown_table(header, rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    named = dict(zip(labels, checkpoints, strict=True))
    (out_dir / "comparison.md").write_text(
        "# Checkpoints side by side\n\n" + "\n".join(f"- {label}: `{c}`" for label, c in named.items())
        + "\n\n" + table + "\n")
    (out_dir / "comparison.json").write_text(json.dumps(
        {"checkpoints": named, "metrics": {k: dict(v) for k, v in columns.items()}, "reports": details},
        indent=2) + "\n")
    return table
