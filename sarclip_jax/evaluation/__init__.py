"""Evaluation jobs for SARCLIP checkpoints: retrieval, zero-shot classification, linear probe.

    from sarclip_jax.evaluation import build_evaluator
    evaluator = build_evaluator("zero_shot", cfg.evals.zero_shot)    # a config entry (ConfigDict/dict)
    metrics = evaluator.run(model)          # [("zero_shot/top1", 41.2), ...], headline numbers
    evaluator.last                          # that run's result: a frozen ZeroShotReport
    evaluator.last.chance()                 # "top1 10.0% (uniform guess), ..."
    evaluator.write_report("out/zero_shot", {"checkpoint": "runs/a/model", "step": 1500})

Kinds: "retrieval" (sarclip_jax/evaluation/retrieval.py), "zero_shot" (sarclip_jax/evaluation/zero_shot.py), "linear_probe"
(sarclip_jax/evaluation/linear_probe.py); each module's docstring shows its config entry, sarclip_jax/evaluation/config.py and
sarclip_jax/evaluation/sources.py the fields they share. Metric math is pure numpy (sarclip_jax/evaluation/*_metrics.py,
sarclip_jax/evaluation/ranking.py); each run's result object renders its own results.json, report.md and PNGs
(sarclip_jax/evaluation/report.py); `sarclip eval` (sarclip_jax/cli/eval.py) runs them on several checkpoints side by side.

`deps` (all optional): tokenizer= a tokenizer object or build_tokenizer spec (default the
entry's `tokenizer`, else the model's own: `sarclip_jax.text.tokenizer.tokenizer_for`); mesh= a jax Mesh to split image batches over (batch_size must
divide by its data shards); tfds_source= an already opened TFDS data source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sarclip_jax.evaluation.report import EvalReport


class Evaluator(Protocol):
    kind: str
    name: str
    last: EvalReport | None  # the latest run()'s result; None before the first run

    def run(self, model) -> list[tuple[str, float]]: ...
    def write_report(self, out_dir, run_info: dict) -> dict: ...


# kind -> (module, class); modules are imported only when their kind is built.
_EVALUATORS = {
    "retrieval": ("sarclip_jax.evaluation.retrieval", "RetrievalEvaluator"),
    "zero_shot": ("sarclip_jax.evaluation.zero_shot", "ZeroShotEvaluator"),
    "linear_probe": ("sarclip_jax.evaluation.linear_probe", "LinearProbeEvaluator"),
}
KINDS = tuple(_EVALUATORS)


def build_evaluator(kind: str, cfg, **deps) -> Evaluator:
    """The evaluator of `kind` for config entry `cfg`; unknown entry keys are an error."""
    if kind not in KINDS:
        raise ValueError(f"unknown evaluator kind {kind!r}; known: {list(KINDS)}")
    import importlib

    module, cls = _EVALUATORS[kind]
    return getattr(importlib.import_module(module), cls)(cfg, **deps)


__all__ = ["Evaluator", "KINDS", "build_evaluator"]
