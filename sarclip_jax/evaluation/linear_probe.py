"""Linear-probe and few-shot evaluator: logistic regression on frozen image embeddings.

Config entry (fields beyond sarclip_jax/evaluation/config.py COMMON and sarclip_jax/evaluation/sources.py):

    dict(kind="linear_probe", folder="/data/MSTAR_SOC",   # <split>/<class>/ folders, or a TFDS
         train_split="train", split="test",              #   dataset with a label and both splits
         shots=(1, 2, 4, 8, 16, 0),   # images per class; 0 = the whole training split
         seeds=(0, 1, 2),             # few-shot draws (sarclip_jax/evaluation/linear_probe_metrics.py)
         C=1.0, max_iter=1000, standardize=True,          # scikit-learn LogisticRegression
         batch_size=64)

Headline metrics: NAME/{k}shot_top1, NAME/{k}shot_top1_std, NAME/{k}shot_mean_per_class and
NAME/full_top1 ... (mean over seeds, population std). Images that fail to load are counted and
left out of both splits. run() leaves a LinearProbeReport in `last`, which writes the report
(sarclip_jax/evaluation/report.py).
"""

from __future__ import annotations

import dataclasses
import time

import ml_collections
import numpy as np
from etils import epath

from sarclip_jax.evaluation import classification_metrics, embed, plots, report
from sarclip_jax.evaluation import config as config_lib
from sarclip_jax.evaluation import linear_probe_metrics as lpm
from sarclip_jax.evaluation.sources import EvalSet, Item, open_set

DEFAULTS = dict(train_split="train", shots=(1, 2, 4, 8, 16, 0), seeds=(0, 1, 2), C=1.0, max_iter=1000,
                standardize=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinearProbeReport(report.EvalReport):
    """One linear-probe run: every few-shot setting's runs, and the solver settings behind them.
    `split` is the test split; counts add train_images and test_images."""

    settings: tuple[lpm.ProbeSetting, ...]
    class_names: tuple[str, ...]
    train_split: str
    shots: tuple[int, ...]
    seeds: tuple[int, ...]
    C: float
    max_iter: int
    standardize: bool

    @property
    def summaries(self) -> dict[str, dict[str, float]]:
        """Setting name ("1shot", ..., "full") -> mean and spread over seeds."""
        return {lpm.setting_name(s.shots): s.summary() for s in self.settings}

    def headline(self) -> list[tuple[str, float]]:
        out = []
        for key, s in self.summaries.items():
            out += [(f"{self.name}/{key}_top1", s["top1_mean"]), (f"{self.name}/{key}_top1_std", s["top1_std"]),
                    (f"{self.name}/{key}_mean_per_class", s["mean_per_class_mean"])]
        return out

    def chance(self) -> str:
        uniform, frequent = classification_metrics.chance_top1(self.settings[0].runs[0].class_counts)
        return f"top1 {uniform:.1f}% (uniform guess), {frequent:.1f}% (always the most frequent class)"

    def to_json(self, run_info: dict | None = None) -> dict:
        runs = {lpm.setting_name(s.shots): [{"top1": r.top_k[1], "mean_per_class": r.mean_per_class,
                                             "train_images": n, "seed": seed}
                                            for r, n, seed in zip(s.runs, s.train_sizes, self.seeds, strict=False)]
                for s in self.settings}
        return {**self.common_json(run_info), "train_split": self.train_split, "class_names": list(self.class_names),
                "protocol": {"name": "linear_probe",
                             "description": "scikit-learn LogisticRegression (lbfgs) on frozen L2-normalised image "
                                            "embeddings" + (", standardised" if self.standardize else ""),
                             "C": self.C, "max_iter": self.max_iter, "shots": list(self.shots),
                             "seeds": list(self.seeds), "spread": "population standard deviation over seeds"},
                "metrics": self.summaries, "runs": runs}

    def to_markdown(self, run_info: dict | None = None) -> str:
        fmt, c = report.fmt, self.counts
        lines = self.header("Linear probe", run_info)
        lines += [f"- train split `{self.train_split}`: {c['train_images']} images; test split "
                  f"`{self.split}`: {c['test_images']} images; {len(self.class_names)} classes",
                  f"- logistic regression, C = {self.C}" + (", standardised features" if self.standardize else "")
                  + f"; seeds {list(self.seeds)} (full training set: one run)", "",
                  "| shots per class | top-1 (mean ± std) | mean per-class (mean ± std) | runs | train images |",
                  "|---|---:|---:|---:|---:|"]
        for key, s in self.summaries.items():
            lines.append(f"| {key} | {fmt(s['top1_mean'])} ± {fmt(s['top1_std'])} | {fmt(s['mean_per_class_mean'])} "
                         f"± {fmt(s['mean_per_class_std'])} | {s['runs']} | {s['train_images_mean']:.0f} |")
        lines += ["", "![few-shot accuracy](few_shot.png)", ""]
        return "\n".join(lines)

    def figures(self, out_dir) -> dict[str, epath.Path]:
        few = [(s.shots, s.summary()) for s in self.settings if s.shots != lpm.FULL]
        full = next((s.summary() for s in self.settings if s.shots == lpm.FULL), None)
        return {"few_shot": plots.few_shot_png(
            [k for k, _ in few], [v["top1_mean"] for _, v in few], [v["top1_std"] for _, v in few],
            full["top1_mean"] if full else None, epath.Path(out_dir) / "few_shot.png",
            f"{self.dataset} ({self.split}): linear probe")}


def _aligned(train: EvalSet, test: EvalSet) -> tuple[list[str], list[Item], list[Item]]:
    """One class list for both splits (text labels may list different classes per split)."""
    if train.class_names == test.class_names:
        return train.class_names, train.items, test.items
    names = sorted(set(train.class_names) | set(test.class_names))
    index = {n: i for i, n in enumerate(names)}

    def remap(data: EvalSet) -> list[Item]:
        return [Item(it.key, it.image, it.captions, index[data.class_names[it.label]]) for it in data.items]

    return names, remap(train), remap(test)


class LinearProbeEvaluator:
    kind = "linear_probe"

    def __init__(self, cfg, *, tokenizer=None, tfds_source=None, mesh=None):
        del tokenizer  # images only
        self.cfg = config_lib.resolve(cfg, self.kind, DEFAULTS)
        self.name = self.cfg.name
        self.radiometry = config_lib.radiometry(self.cfg)
        if any(k < 0 for k in self.cfg.shots) or not self.cfg.shots or not self.cfg.seeds:
            raise ValueError(f"{self.name}: shots must be >= 0 (0 = full) and seeds non-empty")
        if tfds_source is not None and not isinstance(tfds_source, dict):
            raise ValueError("linear_probe takes tfds_source={'train': source, 'test': source}")
        sources = tfds_source or {}
        train_cfg = ml_collections.ConfigDict({**self.cfg.to_dict(), "split": self.cfg.train_split}, type_safe=False)
        self.train_data = open_set(train_cfg, "label", sources.get(self.cfg.train_split))
        self.data = open_set(self.cfg, "label", sources.get(self.cfg.split))
        self.class_names, self.train_items, self.test_items = _aligned(self.train_data, self.data)
        if self.cfg.max_items:
            limit = self.cfg.max_items
            self.train_items, self.test_items = self.train_items[:limit], self.test_items[:limit]
        if not self.train_items or not self.test_items:
            raise ValueError(f"{self.name}: need labelled images in both {self.cfg.train_split!r} and "
                             f"{self.cfg.split!r}; got {len(self.train_items)} and {len(self.test_items)}")
        self.mesh = mesh  # image batches split over its data axes; None: the default device
        self.last: LinearProbeReport | None = None  # the latest run()'s result

    def _embed(self, model, items, timings, data):
        out = embed.embed_for(self, model, items, timings, data)
        labels = np.array([it.label for it in items], np.int64)[out.ok]
        return out, labels

    def run(self, model) -> list[tuple[str, float]]:
        cfg = self.cfg
        timings = embed.Timings()
        train, train_y = self._embed(model, self.train_items, timings, self.train_data)
        test, test_y = self._embed(model, self.test_items, timings, self.data)
        t0 = time.perf_counter()
        settings = lpm.linear_probe(train.embeddings, train_y, test.embeddings, test_y, len(self.class_names),
                                    tuple(cfg.shots), tuple(cfg.seeds), C=cfg.C, max_iter=cfg.max_iter,
                                    standardize=cfg.standardize)
        timings.metric_s += time.perf_counter() - t0
        self.last = LinearProbeReport(
            **report.setup_fields(cfg, self.data, self.radiometry), settings=tuple(settings),
            class_names=tuple(self.class_names), train_split=cfg.train_split, shots=tuple(cfg.shots),
            seeds=tuple(cfg.seeds), C=cfg.C, max_iter=cfg.max_iter, standardize=cfg.standardize,
            failures=tuple(train.failures + test.failures), timings=timings.as_dict(),
            counts=dict(images_listed=len(self.train_items) + len(self.test_items),
                        images_failed=len(train.failures) + len(test.failures),
                        images_scored=int(train.ok.sum() + test.ok.sum()),
                        train_images=int(train.ok.sum()), test_images=int(test.ok.sum()),
                        skipped={f"{split}:{k}": len(v) for split, d in
                                 ((cfg.train_split, self.train_data), (cfg.split, self.data))
                                 for k, v in d.skipped.items()}))
        return self.last.headline()

    def write_report(self, out_dir, run_info: dict) -> dict:
        if self.last is None:
            raise RuntimeError(f"{self.name}: run() first; there is nothing to report")
        return self.last.write(out_dir, run_info)
