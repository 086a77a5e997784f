"""Zero-shot classification evaluator: class names x templates -> classifier -> top-k accuracy.

Config entry (fields beyond sarclip_jax/evaluation/config.py COMMON and sarclip_jax/evaluation/sources.py):

    dict(kind="zero_shot", folder="/data/MSTAR_SOC/test",   # or dataset="sar_zeroshot/mstar_soc"
         templates="sar",       # a set in sarclip_jax/text/prompts.py (sar, optical, sar_opt, isprs,
                                #   simple) or a list of strings with one "{}"
         class_names="",        # "" = the labels as they are (the official protocol), or a
                                #   prompts.READABLE_CLASS_NAMES set (mstar, fusar_ship,
                                #   opensarship, synthetic), or a {label: name} dict
         ks=(1, 3, 5), batch_size=64)

For sarclip1m/synthetic (text labels) set `classes="synthetic"` so that every class is in the
classifier even when the test split lacks one. The protocol is SARCLIP's: each template's
text embedding normalised, averaged over templates, renormalised; logits = 100 x image @
classifier; ties between classes go to the lower class index. Images that fail to load are
counted and left out. Headline metrics: NAME/top1, NAME/top3, NAME/top5 (those with k <= the
number of classes) and NAME/mean_per_class (NAME defaults to "zero_shot"); run() leaves a
ZeroShotReport in `last`, which writes the report (sarclip_jax/evaluation/report.py).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from etils import epath

from sarclip_jax.data import label_ambiguity
from sarclip_jax.evaluation import classification_metrics, embed, plots, report
from sarclip_jax.evaluation import config as config_lib
from sarclip_jax.evaluation.sources import open_set
from sarclip_jax.text import prompts
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits

PROTOCOL = {"name": "sarclip_zero_shot",
            "description": "per-template normalised text embeddings averaged and renormalised; "
                           "logits = 100 x normalised image @ classifier; mean per-class accuracy "
                           "over classes with images", "ties": "to the lower class index"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ZeroShotReport(report.EvalReport):
    """One zero-shot run: accuracies, confusion matrix, and the classes and prompts it used."""

    result: classification_metrics.ClassificationResult
    class_names: tuple[str, ...]  # the dataset's labels, in class-index order
    prompt_names: tuple[str, ...]  # what the templates were filled with, one per class
    templates: tuple[str, ...]
    template_set: str  # a prompts set name, or "custom"
    class_name_set: str  # "" (labels as they are), a prompts.READABLE_CLASS_NAMES set, or "custom"
    # (standing, images, top-1) where records carry object boxes: where the label stands among the
    # scene's object classes (sarclip_jax.data.label_ambiguity); () otherwise.
    by_standing: tuple[tuple[str, int, float], ...] = ()
    # With object boxes: top-1 counted right when it names any class of the scene's objects (the
    # scenes' multi-label reading); None otherwise.
    top1_in_scene: float | None = None

    @property
    def metrics(self) -> dict[str, float]:
        out = {**{f"top{k}": v for k, v in self.result.top_k.items()}, "mean_per_class": self.result.mean_per_class}
        return out if self.top1_in_scene is None else {**out, "top1_in_scene": self.top1_in_scene}

    def per_class(self) -> list[dict]:
        r = self.result
        return [{"class": c, "prompt_name": p, "images": int(n), "accuracy": a}
                for c, p, n, a in zip(self.class_names, self.prompt_names, r.class_counts, r.per_class, strict=True)]

    def headline(self) -> list[tuple[str, float]]:
        return [(f"{self.name}/{k}", v) for k, v in self.metrics.items()]

    def chance(self) -> str:
        uniform, frequent = classification_metrics.chance_top1(self.result.class_counts)
        return f"top1 {uniform:.1f}% (uniform guess), {frequent:.1f}% (always the most frequent class)"

    def to_json(self, run_info: dict | None = None) -> dict:
        return {**self.common_json(run_info), "protocol": PROTOCOL,
                "templates": {"set": self.template_set, "templates": list(self.templates)},
                "class_names": {"set": self.class_name_set, "labels": list(self.class_names),
                                "prompt_names": list(self.prompt_names)},
                "metrics": self.metrics, "per_class": self.per_class(), "confusion_matrix": self.result.confusion,
                "by_label_standing": [{"standing": g, "images": n, "top1": a} for g, n, a in self.by_standing]}

    def to_markdown(self, run_info: dict | None = None) -> str:
        r, fmt = self.result, report.fmt
        lines = self.header("Zero-shot classification", run_info)
        lines += [f"- templates: `{self.template_set}` ({len(self.templates)}); class names: "
                  f"`{self.class_name_set or 'as_is'}`; {len(self.class_names)} classes",
                  "- logits = 100 x cosine; per-template embeddings normalised, averaged, renormalised", "",
                  "| " + " | ".join(f"top-{k}" for k in r.top_k) + " | mean per-class |",
                  "|" + "---:|" * (len(r.top_k) + 1),
                  "| " + " | ".join(fmt(v) for v in r.top_k.values()) + f" | **{fmt(r.mean_per_class)}** |",
                  "", "| class | prompt name | images | accuracy |", "|---|---|---:|---:|"]
        lines += [f"| {c['class']} | {c['prompt_name']} | {c['images']} | {fmt(c['accuracy'])} |"
                  for c in self.per_class()]
        if self.by_standing:
            lines += ["", "By where the label stands among the classes of the scene's annotated objects (a perfect "
                      "reader guesses on a tie and never names an outnumbered label):", "",
                      "| scene | images | top-1 |", "|---|---:|---:|"]
            lines += [f"| {g} | {n} | {fmt(a)} |" for g, n, a in self.by_standing]
            lines += ["", f"Top-1 names a class of one of the scene's objects: {fmt(self.top1_in_scene)}% "
                      "(`top1_in_scene`)."]
        lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
        return "\n".join(lines)

    def figures(self, out_dir) -> dict[str, epath.Path]:
        return {"confusion_matrix": plots.confusion_matrix_png(
            self.result.confusion, list(self.class_names), epath.Path(out_dir) / "confusion_matrix.png",
            f"{self.dataset} ({self.split}): top-1 {report.fmt(self.result.top_k.get(1))}%")}

DEFAULTS = dict(templates="sar", class_names="", ks=(1, 3, 5))


class ZeroShotEvaluator:
    kind = "zero_shot"

    def __init__(self, cfg, *, tokenizer=None, tfds_source=None, mesh=None):
        self.cfg = config_lib.resolve(cfg, self.kind, DEFAULTS)
        self.name = self.cfg.name
        self.radiometry = config_lib.radiometry(self.cfg)
        self.templates = prompts.get_templates(self.cfg.templates if isinstance(self.cfg.templates, str)
                                               else list(self.cfg.templates))
        self.data = open_set(self.cfg, "label", tfds_source)
        self.items = self.data.items[:self.cfg.max_items] if self.cfg.max_items else self.data.items
        if not self.items:
            raise ValueError(f"{self.name}: no labelled image in {self.data.dataset} ({self.data.split})")
        names = self.cfg.class_names
        self.prompt_names = prompts.readable_class_names(
            self.data.class_names, config_lib.plain(names) if not isinstance(names, str) else names)
        self.labels = np.array([item.label for item in self.items], np.int64)
        self.tokenizer = tokenizer if tokenizer is not None else self.cfg.tokenizer
        self.mesh = mesh  # image batches split over its data axes; None: the default device
        self.last: ZeroShotReport | None = None  # the latest run()'s result

    @property
    def template_set(self) -> str:
        return self.cfg.templates if isinstance(self.cfg.templates, str) else "custom"

    def run(self, model) -> list[tuple[str, float]]:
        cfg = self.cfg
        timings = embed.Timings()
        tokenizer = embed.build_tokenizer(self.tokenizer, model)
        classifier = build_classifier(
            lambda texts: embed.embed_texts(model, texts, tokenizer, batch_size=cfg.text_batch_size, timings=timings),
            self.prompt_names, self.templates)
        images = embed.embed_for(self, model, self.items, timings)
        t0 = time.perf_counter()
        logits = zero_shot_logits(images.embeddings, classifier)
        result = classification_metrics.classification_metrics(logits, self.labels[images.ok], tuple(cfg.ks))
        by_standing, in_scene = self._scene_scores(result.predictions, images.ok)
        timings.metric_s += time.perf_counter() - t0
        self.last = ZeroShotReport(
            **report.setup_fields(cfg, self.data, self.radiometry), result=result,
            class_names=tuple(self.data.class_names), prompt_names=tuple(self.prompt_names),
            templates=tuple(self.templates), template_set=self.template_set,
            class_name_set=cfg.class_names if isinstance(cfg.class_names, str) else "custom", by_standing=by_standing,
            top1_in_scene=in_scene,
            failures=tuple(images.failures), timings=timings.as_dict(),
            counts=dict(images_listed=len(self.items), images_failed=len(images.failures),
                        images_scored=result.num_images, skipped={k: len(v) for k, v in self.data.skipped.items()}))
        return self.last.headline()

    def _scene_scores(self, predictions: np.ndarray, ok: np.ndarray):
        """(top-1 by label standing, top-1 naming any class in the scene) where items carry objects."""
        scored = [item for item, kept in zip(self.items, ok, strict=True) if kept]
        names = self.data.class_names
        if not any(item.objects for item in scored):
            return (), None
        if any(item.objects and names[item.label] not in item.objects for item in scored):
            return (), None  # the boxes name classes otherwise than the labels: no standing to read
        groups = [label_ambiguity.standing(names[item.label], item.objects) for item in scored]
        by_standing = classification_metrics.top1_by_group(predictions, self.labels[ok], groups,
                                                           label_ambiguity.STANDINGS)
        # A scene without boxes counts its label as its one class.
        in_scene = [names[p] in (item.objects or (names[item.label],))
                    for item, p in zip(scored, predictions, strict=True)]
        return tuple(by_standing), float(100.0 * np.mean(in_scene))

    def write_report(self, out_dir, run_info: dict) -> dict:
        if self.last is None:
            raise RuntimeError(f"{self.name}: run() first; there is nothing to report")
        return self.last.write(out_dir, run_info)
