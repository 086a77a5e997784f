"""`sarclip train`: the main job.

    sarclip train --config configs/default.py --workdir runs/default
    sarclip train --config configs/sarclip1m.py:model=ViT-B-16 --workdir gs://bucket/run --config.batch_size=2048

Config overrides follow ml_collections' flag style (`--config.optim.lr=1e-4`). Starting in a
work directory that holds checkpoints resumes the run.

The console shows a progress bar, one line per evaluation and a line at the start and the end;
every library's log goes to WORKDIR/log.txt (`--verbose` shows it on the console too).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import time

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a SARCLIP model (the main job)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="config file, optionally with ':arguments'")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics and reports go here (local or gs://)")
    p.add_argument("--verbose", action="store_true", help="show every library's log on the console, not only in WORKDIR/log.txt")
    p.set_defaults(func=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from sarclip_jax.train import console

    with console.Console(verbose=getattr(args, "verbose", False)) as screen:
        platform_chosen = console.choose_platform()  # before JAX starts its backends
        from sarclip_jax.config_loading import apply_overrides, load_config, split_overrides
        from sarclip_jax.train import distributed
        from sarclip_jax.train.validate import validate_train_config

        if platform_chosen:
            log.info("no TPU or GPU on this machine: JAX_PLATFORMS=%s", platform_chosen)
        try:
            cfg = apply_overrides(load_config(args.config), split_overrides(getattr(args, "overrides", [])))
            distributed.initialize(cfg.get("distributed", {}))
            validate_train_config(cfg)
        except (ValueError, TypeError, FileNotFoundError) as e:
            raise SystemExit(f"sarclip train: {e}") from None
        screen.log_to(_log_dir(args.workdir))
        return main(cfg, args.workdir, config_spec=args.config, log_path=screen.path)


def _log_dir(workdir: str):
    """WORKDIR for process 0, WORKDIR/logs/process_N for the others (one file each)."""
    import jax
    from etils import epath

    index = jax.process_index()
    return epath.Path(workdir) if index == 0 else epath.Path(workdir) / "logs" / f"process_{index}"


def main(cfg, workdir: str, config_spec: str = "", log_path: str | None = None) -> int:
    import jax
    from etils import epath

    from sarclip_jax.cli import prepare
    from sarclip_jax.data import pipeline
    from sarclip_jax.evaluation import embed
    from sarclip_jax.train import console, loop

    start = time.time()
    workdir = epath.Path(workdir)
    if jax.process_index() == 0:
        console.say("sarclip train: %s on %s, %d steps of %d on %d x %s; workdir %s%s", cfg.model.name,
                    cfg.data.dataset, cfg.total_steps, cfg.batch_size, jax.device_count(),
                    jax.devices()[0].device_kind, workdir, f", log {log_path}" if log_path else "")
    prepare.ensure_dataset(cfg)
    prepare.ensure_tokenizer(cfg)
    data_cfg = pipeline.PipelineConfig.from_dict(cfg.data)
    batch_ids = loop.step_config(cfg).batch_ids  # the id fields the loss needs in every batch
    data_cfg = dataclasses.replace(data_cfg, caption_ids="caption_ids" in batch_ids,
                                   label_ids="label_ids" in batch_ids)
    data_fn = pipeline.make_data_fn(data_cfg)
    evaluators = build_evaluators(cfg)
    result = loop.train(cfg, workdir, data_fn, evaluators, eval_round=embed.shared_images)
    if jax.process_index() == 0:
        write_report(cfg, workdir, result, evaluators, config_spec)
        console.say("%s at step %d in %s; report %s", result.stopped_by, result.final_step,
                    console.duration(time.time() - start), workdir / "report.md")
    return 0 if result.stopped_by in ("completed", "preempted") else 1


def build_evaluators(cfg) -> dict:
    if not cfg.get("evals"):
        return {}
    from sarclip_jax import evaluation

    # Evaluators embed text with the run's own tokenizer: a model trained with a sentencepiece
    # vocabulary would silently misread CLIP BPE ids.
    return {name: evaluation.build_evaluator(entry.kind, _named(entry, name), tokenizer=cfg.data.tokenizer)
            for name, entry in cfg.evals.items()}


def _named(entry, name: str) -> dict:
    """The entry with its key as its name unless it names itself: metrics are prefixed by the name,
    so two evaluators of one kind must not both report "retrieval/..." (as in `sarclip eval`)."""
    entry = entry.to_dict() if hasattr(entry, "to_dict") else dict(entry)
    entry["name"] = entry.get("name") or name
    return entry


def write_report(cfg, workdir, result, evaluators: dict, config_spec: str) -> None:
    """WORKDIR/report.md: what ran, how it ended, the last training numbers, the evaluations."""
    import jax

    run_info = {"config": config_spec, "workdir": str(workdir), "final_step": result.final_step,
                "stopped_by": result.stopped_by, "model": cfg.model.name, "dataset": cfg.data.dataset,
                "jax": jax.__version__, "device": jax.devices()[0].device_kind, "python": platform.python_version()}
    lines = [f"# Training report: {cfg.model.name} on {cfg.data.dataset}", "",
             f"- config: `{config_spec}`", f"- steps: {result.final_step} ({result.stopped_by})",
             f"- devices: {jax.device_count()} x {run_info['device']}", ""]
    if result.last_metrics:
        lines += ["| train metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in sorted(result.last_metrics.items())]
        lines.append("")
    if result.eval_metrics:
        lines += ["| eval metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in sorted(result.eval_metrics.items())]
        lines.append("")
    for name, evaluator in evaluators.items():
        if evaluator.last is None:  # stopped (e.g. preempted) before its first evaluation
            lines.append(f"- {name}: not evaluated in this run")
            continue
        out = workdir / "eval" / name
        evaluator.write_report(out, run_info)
        chance = evaluator.last.chance()  # what a model that has learned nothing would score
        lines.append(f"- {name}: full report in `{out}`" + (f"; at random: {chance}" if chance else ""))
    (workdir / "report.md").write_text("\n".join(lines) + "\n")
    (workdir / "run_info.json").write_text(json.dumps(run_info, indent=2) + "\n")
    log.info("report: %s", workdir / "report.md")
