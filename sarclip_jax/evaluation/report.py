"""Evaluation reports: results.json, a Markdown table and PNGs in one folder per evaluator.

    OUT/results.json        metrics, protocol, checkpoint, dataset, split, counts, template set,
                            image pipeline, failures, timings, config, software versions
    OUT/report.md           the tables a person reads
    OUT/confusion_matrix.png   (zero-shot)     OUT/recall_at_k.png   (retrieval)

`run_info` is the caller's: at least {"checkpoint": ...}; the trainer adds its step.
"""

from __future__ import annotations

import json
import math
import platform
import re
from typing import Any

import numpy as np
from etils import epath

from sarclip_jax.evaluation import linear_probe_metrics, plots
from sarclip_jax.evaluation.retrieval_metrics import PROTOCOLS

TIE_RULE = "ties broken by candidate index (a stable sort of the negated scores)"
MAX_LISTED_FAILURES = 50


def snake(name: str) -> str:
    """Official metric name -> headline suffix: I2T_R@1 -> i2t_r@1, I2T_MeanRecall -> i2t_mean_recall."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


def software_versions() -> dict[str, str]:
    import importlib.metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("sarclip_jax", "jax", "jaxlib", "flax", "numpy", "tensorflow-datasets", "grain", "pillow",
                 "scikit-learn"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import jax

        out["device"] = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind} x{jax.device_count()}"
    except Exception:  # a report must not fail for want of a device description
        pass
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, epath.Path):
        return str(x)
    return x


def _write(out_dir, results: dict, markdown: str) -> dict[str, epath.Path]:
    out = epath.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_jsonable(results), indent=2) + "\n")
    (out / "report.md").write_text(markdown)
    return {"results": out / "results.json", "markdown": out / "report.md"}


def checkpoint_of(run_info: dict) -> str:
    """The checkpoint a run_info names (the trainer gives its work directory instead)."""
    return str(run_info.get("checkpoint") or run_info.get("workdir") or "")


def _common(evaluator, run_info: dict) -> dict:
    last, cfg = evaluator.last, evaluator.cfg
    return {
        "kind": evaluator.kind, "name": evaluator.name,
        "checkpoint": checkpoint_of(run_info), "run_info": run_info,
        "dataset": evaluator.data.dataset, "split": evaluator.data.split,
        "image_pipeline": cfg.image_pipeline, "radiometry": vars(evaluator.radiometry),
        "counts": last["counts"],
        "failed_to_load": [{"item": k, "reason": r} for k, r in last["failures"][:MAX_LISTED_FAILURES]],
        "failure_policy": "images that fail to load are counted and left out of every metric "
                          "(the official scripts score them as black images)",
        "timings_s": last["timings"], "config": cfg.to_dict(), "software": software_versions(),
    }


def _fmt(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _header(evaluator, title: str, run_info: dict) -> list[str]:
    c = evaluator.last["counts"]
    scored = c["images_scored"]
    step = run_info.get("step", run_info.get("final_step"))
    lines = [f"# {title}: {evaluator.data.dataset} ({evaluator.data.split})", "",
             f"- checkpoint: `{checkpoint_of(run_info)}`" + (f", step {step}" if step is not None else ""),
             f"- images scored: {scored} of {c['images_listed']}; failed to load: {c['images_failed']}"
             + (" (listed in results.json, left out of the metrics)" if c["images_failed"] else ""),
             f"- image pipeline: `{evaluator.cfg.image_pipeline}`"]
    if c.get("skipped"):
        lines.append("- records left out before evaluation: " + ", ".join(f"{k}: {v}" for k, v in c["skipped"].items()))
    return lines


def write_retrieval(out_dir, evaluator, run_info: dict) -> dict[str, epath.Path]:
    result = evaluator.last["result"]
    m = result.metrics
    ks = [int(k.split("@")[1]) for k in m if k.startswith("I2T_R@")]
    curve_k = min(max(result.num_images, result.num_captions), 1000)
    ks_curve, i2t, t2i = result.recall_curve(curve_k)
    results = {**_common(evaluator, run_info),
               "protocol": {"name": result.protocol, "description": PROTOCOLS[result.protocol],
                            "similarity": "L2-normalised image @ text.T, no scale", "ties": TIE_RULE,
                            "subset_size": evaluator.cfg.subset_size, "subset_seed": evaluator.cfg.subset_seed},
               "metrics": m, "recall_curve": {"k": ks_curve, "i2t": i2t, "t2i": t2i}}
    lines = _header(evaluator, "Retrieval", run_info)
    lines += [f"- protocol: `{result.protocol}`: {PROTOCOLS[result.protocol]}; {TIE_RULE}",
              f"- captions scored: {result.num_captions}", "",
              "| metric | image→text | text→image | mean |", "|---|---:|---:|---:|"]
    for k in ks:
        lines.append(f"| R@{k} | {_fmt(m[f'I2T_R@{k}'])} | {_fmt(m[f'T2I_R@{k}'])} | {_fmt(m[f'R@{k}'])} |")
    lines.append(f"| MeanRecall | {_fmt(m['I2T_MeanRecall'])} | {_fmt(m['T2I_MeanRecall'])} | "
                 f"**{_fmt(m['MeanRecall'])}** |")
    lines += ["", "![recall@K](recall_at_k.png)", ""]
    files = _write(out_dir, results, "\n".join(lines))
    files["recall_curve"] = plots.recall_curve_png(
        ks_curve, i2t, t2i, epath.Path(out_dir) / "recall_at_k.png",
        f"{evaluator.data.dataset} ({evaluator.data.split}), {result.protocol}")
    return files


def write_zero_shot(out_dir, evaluator, run_info: dict) -> dict[str, epath.Path]:
    result = evaluator.last["result"]
    labels = evaluator.data.class_names
    per_class = [{"class": c, "prompt_name": p, "images": int(n), "accuracy": a}
                 for c, p, n, a in zip(labels, evaluator.prompt_names, result.class_counts, result.per_class,
                                          strict=True)]
    metrics = {**{f"top{k}": v for k, v in result.top_k.items()}, "mean_per_class": result.mean_per_class}
    results = {**_common(evaluator, run_info),
               "protocol": {"name": "sarclip_zero_shot",
                            "description": "per-template normalised text embeddings averaged and renormalised; "
                                           "logits = 100 x normalised image @ classifier; mean per-class accuracy "
                                           "over classes with images", "ties": "to the lower class index"},
               "templates": {"set": evaluator.template_set, "templates": list(evaluator.templates)},
               "class_names": {"set": evaluator.cfg.class_names if isinstance(evaluator.cfg.class_names, str)
                               else "custom", "labels": labels, "prompt_names": evaluator.prompt_names},
               "metrics": metrics, "per_class": per_class, "confusion_matrix": result.confusion}
    lines = _header(evaluator, "Zero-shot classification", run_info)
    lines += [f"- templates: `{evaluator.template_set}` ({len(evaluator.templates)}); class names: "
              f"`{results['class_names']['set'] or 'as_is'}`; {len(labels)} classes",
              "- logits = 100 x cosine; per-template embeddings normalised, averaged, renormalised", "",
              "| " + " | ".join(f"top-{k}" for k in result.top_k) + " | mean per-class |",
              "|" + "---:|" * (len(result.top_k) + 1),
              "| " + " | ".join(_fmt(v) for v in result.top_k.values()) + f" | **{_fmt(result.mean_per_class)}** |",
              "", "| class | prompt name | images | accuracy |", "|---|---|---:|---:|"]
    lines += [f"| {r['class']} | {r['prompt_name']} | {r['images']} | {_fmt(r['accuracy'])} |" for r in per_class]
    lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
    files = _write(out_dir, results, "\n".join(lines))
    files["confusion_matrix"] = plots.confusion_matrix_png(
        result.confusion, labels, epath.Path(out_dir) / "confusion_matrix.png",
        f"{evaluator.data.dataset} ({evaluator.data.split}): top-1 {_fmt(result.top_k.get(1))}%")
    return files


def write_linear_probe(out_dir, evaluator, run_info: dict) -> dict[str, epath.Path]:
    last, cfg = evaluator.last, evaluator.cfg
    runs = {linear_probe_metrics.setting_name(s.shots): [{"top1": r.top_k[1], "mean_per_class": r.mean_per_class, "train_images": n,
                                     "seed": seed}
                                    for r, n, seed in zip(s.runs, s.train_sizes, cfg.seeds, strict=False)]
            for s in last["settings"]}
    results = {**_common(evaluator, run_info),
               "train_split": cfg.train_split, "class_names": evaluator.class_names,
               "protocol": {"name": "linear_probe",
                            "description": "scikit-learn LogisticRegression (lbfgs) on frozen L2-normalised image "
                                           "embeddings" + (", standardised" if cfg.standardize else ""),
                            "C": cfg.C, "max_iter": cfg.max_iter, "shots": list(cfg.shots), "seeds": list(cfg.seeds),
                            "spread": "population standard deviation over seeds"},
               "metrics": last["summaries"], "runs": runs}
    lines = _header(evaluator, "Linear probe", run_info)
    lines += [f"- train split `{cfg.train_split}`: {last['counts']['train_images']} images; test split "
              f"`{cfg.split}`: {last['counts']['test_images']} images; {len(evaluator.class_names)} classes",
              f"- logistic regression, C = {cfg.C}" + (", standardised features" if cfg.standardize else "")
              + f"; seeds {list(cfg.seeds)} (full training set: one run)", "",
              "| shots per class | top-1 (mean ± std) | mean per-class (mean ± std) | runs | train images |",
              "|---|---:|---:|---:|---:|"]
    for key, s in last["summaries"].items():
        lines.append(f"| {key} | {_fmt(s['top1_mean'])} ± {_fmt(s['top1_std'])} | {_fmt(s['mean_per_class_mean'])} "
                     f"± {_fmt(s['mean_per_class_std'])} | {s['runs']} | {s['train_images_mean']:.0f} |")
    lines += ["", "![few-shot accuracy](few_shot.png)", ""]
    files = _write(out_dir, results, "\n".join(lines))
    few = [(s.shots, s.summary()) for s in last["settings"] if s.shots]
    full = next((s.summary() for s in last["settings"] if not s.shots), None)
    files["few_shot"] = plots.few_shot_png(
        [k for k, _ in few], [v["top1_mean"] for _, v in few], [v["top1_std"] for _, v in few],
        full["top1_mean"] if full else None, epath.Path(out_dir) / "few_shot.png",
        f"{evaluator.data.dataset} ({cfg.split}): linear probe")
    return files
