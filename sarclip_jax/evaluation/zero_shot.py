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
number of classes) and NAME/mean_per_class (NAME defaults to "zero_shot").
"""

from __future__ import annotations

import time

import numpy as np

from sarclip_jax.evaluation import classification_metrics, embed, report
from sarclip_jax.evaluation import config as config_lib
from sarclip_jax.evaluation.sources import open_set
from sarclip_jax.text import prompts
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits

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
        self._mesh = mesh
        self.last: dict | None = None

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
        timings.metric_s += time.perf_counter() - t0
        self.last = dict(result=result, failures=images.failures, timings=timings.as_dict(),
                         counts=dict(images_listed=len(self.items), images_failed=len(images.failures),
                                     images_scored=result.num_images,
                                     skipped={k: len(v) for k, v in self.data.skipped.items()}))
        metrics = [(f"{self.name}/top{k}", v) for k, v in result.top_k.items()]
        return metrics + [(f"{self.name}/mean_per_class", result.mean_per_class)]

    def write_report(self, out_dir, run_info: dict) -> dict:
        if self.last is None:
            raise RuntimeError(f"{self.name}: run() first; there is nothing to report")
        return report.write_zero_shot(out_dir, self, run_info)
