"""Evaluation reports: the part every evaluator's report shares.

`run(model)` leaves a frozen result object in `evaluator.last` (`RetrievalReport` in
retrieval.py, `ZeroShotReport` in zero_shot.py, `LinearProbeReport` in linear_probe.py). Each is
an `EvalReport` holding everything its report needs, and renders itself:

    result = evaluator.last
    result.headline()              # [("zero_shot/top1", 41.2), ...]: what run() returned
    result.to_json(run_info)       # results.json's content
    result.to_markdown(run_info)   # report.md
    result.figures(out_dir)        # its PNGs, {name: path}
    result.chance()                # what a model that has learned nothing would score, as text
    result.write(out_dir, run_info)   # all of it into one folder; evaluator.write_report calls it

    OUT/results.json        metrics, protocol, checkpoint, dataset, split, counts, template set,
                            image pipeline, failures, timings, config, software versions
    OUT/report.md           the tables a person reads
    OUT/confusion_matrix.png   (zero-shot)     OUT/recall_at_k.png   (retrieval)
    OUT/few_shot.png           (linear probe)

`run_info` is the caller's: at least {"checkpoint": ...}; the trainer adds its step.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
from typing import Any

import numpy as np
from etils import epath

MAX_LISTED_FAILURES = 50
FAILURE_POLICY = ("images that fail to load are counted and left out of every metric "
                  "(the official scripts score them as black images)")


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


def jsonable(x: Any) -> Any:
    """`x` with numpy arrays and scalars, tuples and paths made JSON types; NaN becomes null."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, epath.Path):
        return str(x)
    return x


def fmt(x: float | None) -> str:
    """A percentage cell: two decimals, "–" for a missing or undefined value."""
    return "–" if x is None or math.isnan(float(x)) else f"{x:.2f}"


def checkpoint_of(run_info: dict) -> str:
    """The checkpoint a run_info names (the trainer gives its work directory instead)."""
    return str(run_info.get("checkpoint") or run_info.get("workdir") or "")


def setup_fields(cfg, data, radiometry) -> dict[str, Any]:
    """What was evaluated, as EvalReport fields: from a resolved config entry, the evaluated
    `sources.EvalSet` and the radiometry the images were prepared with."""
    return dict(kind=cfg.kind, name=cfg.name, dataset=data.dataset, split=data.split,
                image_pipeline=cfg.image_pipeline, radiometry=dataclasses.asdict(radiometry), config=cfg.to_dict())


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvalReport:
    """The fields every evaluator's result holds; subclasses add their metrics and render them."""

    kind: str
    name: str  # metric prefix and report folder
    dataset: str
    split: str
    image_pipeline: str
    radiometry: dict[str, Any]
    config: dict[str, Any]  # the resolved config entry
    counts: dict[str, Any]  # images_listed, images_failed, images_scored, skipped (+ the kind's own)
    failures: tuple[tuple[str, str], ...]  # (item key, reason) for every image that failed to load
    timings: dict[str, float]

    def headline(self) -> list[tuple[str, float]]:
        raise NotImplementedError

    def chance(self) -> str:
        return ""

    def to_json(self, run_info: dict | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def to_markdown(self, run_info: dict | None = None) -> str:
        raise NotImplementedError

    def figures(self, out_dir) -> dict[str, epath.Path]:
        return {}

    def common_json(self, run_info: dict | None) -> dict[str, Any]:
        """results.json's fields shared by every kind, in their order there."""
        run_info = run_info or {}
        return {
            "kind": self.kind, "name": self.name,
            "checkpoint": checkpoint_of(run_info), "run_info": run_info,
            "dataset": self.dataset, "split": self.split,
            "image_pipeline": self.image_pipeline, "radiometry": self.radiometry,
            "counts": self.counts,
            "failed_to_load": [{"item": k, "reason": r} for k, r in self.failures[:MAX_LISTED_FAILURES]],
            "failure_policy": FAILURE_POLICY,
            "timings_s": self.timings, "config": self.config, "software": software_versions(),
        }

    def header(self, title: str, run_info: dict | None) -> list[str]:
        """report.md's first lines: title, checkpoint, images scored and failed, image pipeline."""
        run_info = run_info or {}
        c = self.counts
        step = run_info.get("step", run_info.get("final_step"))
        lines = [f"# {title}: {self.dataset} ({self.split})", "",
                 f"- checkpoint: `{checkpoint_of(run_info)}`" + (f", step {step}" if step is not None else ""),
                 f"- images scored: {c['images_scored']} of {c['images_listed']}; failed to load: "
                 f"{c['images_failed']}" + (" (listed in results.json, left out of the metrics)"
                                            if c["images_failed"] else ""),
                 f"- image pipeline: `{self.image_pipeline}`"]
        if c.get("skipped"):
            lines.append("- records left out before evaluation: "
                         + ", ".join(f"{k}: {v}" for k, v in c["skipped"].items()))
        return lines

    def write(self, out_dir, run_info: dict | None = None) -> dict[str, epath.Path]:
        """OUT/results.json, OUT/report.md and the figures; {"results", "markdown", figure names: path}."""
        out = epath.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(jsonable(self.to_json(run_info)), indent=2) + "\n")
        (out / "report.md").write_text(self.to_markdown(run_info))
        return {"results": out / "results.json", "markdown": out / "report.md", **self.figures(out)}
