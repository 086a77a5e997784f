"""Image-text retrieval evaluator: Recall@K both ways under a named protocol.

Config entry (fields beyond sarclip_jax/evaluation/config.py COMMON and sarclip_jax/evaluation/sources.py):

    dict(kind="retrieval", dataset="sarclip1m/synthetic", split="test", data_dir=...,
         protocol="one_to_one",   # or "multi_caption", "any_match" (sarclip_jax/evaluation/retrieval_metrics.py)
         caption_index=0,         # one_to_one on records with several captions: which one
         subset_size=5000,        # pairs (one_to_one) or images (multi_caption) drawn with
         subset_seed=0,           #   a fixed seed before loading; 0 = all
         ks=(1, 5, 10), batch_size=64)

An official SARCLIP retrieval list is `csv=".../retrieval_file_list.csv"` with protocol
"one_to_one": every row is its own pair, as the official script scores it. Images that fail to
load are removed with their captions (one_to_one: their pair) and counted in the report. Where
the captions carry kinds (general, counting, absolute, relative, ...), the report also gives
R@K per kind.
Headline metrics: NAME/i2t_r@1 ... NAME/mean_recall (NAME defaults to "retrieval"); run() leaves
a RetrievalReport in `last`, which writes the report (sarclip_jax/evaluation/report.py).
"""

from __future__ import annotations

import collections
import dataclasses
import re
import time

import numpy as np
from etils import epath

from sarclip_jax.evaluation import config as config_lib
from sarclip_jax.evaluation import embed, plots, report, retrieval_metrics
from sarclip_jax.evaluation.sources import EvalSet, Item, open_set
from sarclip_jax.text.caption_ids import caption_id

DEFAULTS = dict(protocol="one_to_one", caption_index=0, subset_size=5000, subset_seed=0, ks=(1, 5, 10))
TIE_RULE = "ties broken by candidate index (a stable sort of the negated scores)"
SIMILARITY = "L2-normalised image @ text.T, no scale"


def snake(name: str) -> str:
    """Official metric name -> headline suffix: I2T_R@1 -> i2t_r@1, I2T_MeanRecall -> i2t_mean_recall."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetrievalReport(report.EvalReport):
    """One retrieval run: the recall under its protocol, and the subset it was computed on."""

    result: retrieval_metrics.RetrievalResult
    subset_size: int
    subset_seed: int

    @property
    def metrics(self) -> dict[str, float]:
        return self.result.metrics  # the official names: I2T_R@1 ... MeanRecall

    @property
    def ks(self) -> list[int]:
        return [int(k.split("@")[1]) for k in self.metrics if k.startswith("I2T_R@")]

    def headline(self) -> list[tuple[str, float]]:
        return [(f"{self.name}/{snake(k)}", float(v)) for k, v in self.metrics.items()]

    def chance(self) -> str:
        k = max(self.ks)
        i2t, t2i = retrieval_metrics.chance_recall(self.result.num_images, self.result.num_captions, k)
        return f"t2i R@{k} {t2i:.1f}%, i2t R@{k} {i2t:.1f}%"

    def recall_curve(self):
        """(K, I2T recall@K, T2I recall@K) up to K = 1000 or every candidate."""
        return self.result.recall_curve(min(max(self.result.num_images, self.result.num_captions), 1000))

    def to_json(self, run_info: dict | None = None) -> dict:
        ks_curve, i2t, t2i = self.recall_curve()
        protocol = self.result.protocol
        return {**self.common_json(run_info),
                "protocol": {"name": protocol, "description": retrieval_metrics.PROTOCOLS[protocol],
                             "similarity": SIMILARITY, "ties": TIE_RULE,
                             "subset_size": self.subset_size, "subset_seed": self.subset_seed},
                "metrics": self.metrics, "per_caption_kind": self.result.per_kind,
                "recall_curve": {"k": ks_curve, "i2t": i2t, "t2i": t2i}}

    def to_markdown(self, run_info: dict | None = None) -> str:
        m, fmt, protocol = self.metrics, report.fmt, self.result.protocol
        lines = self.header("Retrieval", run_info)
        lines += [f"- protocol: `{protocol}`: {retrieval_metrics.PROTOCOLS[protocol]}; {TIE_RULE}",
                  f"- captions scored: {self.result.num_captions}", "",
                  "| metric | image→text | text→image | mean |", "|---|---:|---:|---:|"]
        lines += [f"| R@{k} | {fmt(m[f'I2T_R@{k}'])} | {fmt(m[f'T2I_R@{k}'])} | {fmt(m[f'R@{k}'])} |" for k in self.ks]
        lines.append(f"| MeanRecall | {fmt(m['I2T_MeanRecall'])} | {fmt(m['T2I_MeanRecall'])} | "
                     f"**{fmt(m['MeanRecall'])}** |")
        if self.result.per_kind:
            lines += ["", "Per caption kind (text→image over that kind's captions; image→text against them):", "",
                      "| kind | captions | " + " | ".join(f"T2I R@{k}" for k in self.ks) + " | "
                      + " | ".join(f"I2T R@{k}" for k in self.ks) + " |",
                      "|---|---:|" + "---:|" * (2 * len(self.ks))]
            for kind, r in self.result.per_kind.items():
                lines.append(f"| {kind} | {r['captions']} | " + " | ".join(fmt(r[f'T2I_R@{k}']) for k in self.ks)
                             + " | " + " | ".join(fmt(r[f'I2T_R@{k}']) for k in self.ks) + " |")
        lines += ["", "![recall@K](recall_at_k.png)", ""]
        return "\n".join(lines)

    def figures(self, out_dir) -> dict[str, epath.Path]:
        ks_curve, i2t, t2i = self.recall_curve()
        return {"recall_curve": plots.recall_curve_png(
            ks_curve, i2t, t2i, epath.Path(out_dir) / "recall_at_k.png",
            f"{self.dataset} ({self.split}), {self.result.protocol}")}


def _pairs(data: EvalSet, cfg) -> tuple[list[Item], list[str], np.ndarray, dict[str, list[str]]]:
    """(image items, captions, caption -> image index, extra skips) under cfg.protocol."""
    skipped: dict[str, list[str]] = collections.defaultdict(list)
    items = data.items
    if cfg.protocol in ("multi_caption", "any_match"):
        groups: dict[str, Item] = {}
        for item in items:  # CSV rows sharing an image become one image with all its captions
            if item.key in groups:
                first = groups[item.key]
                groups[item.key] = Item(item.key, first.image, first.captions + item.captions,
                                        kinds=_kinds(first) + _kinds(item))
            else:
                groups[item.key] = item
        items = list(groups.values())
    else:
        chosen = []
        for item in items:
            if cfg.caption_index >= len(item.captions):
                skipped[f"fewer_than_{cfg.caption_index + 1}_captions"].append(item.key)
                continue
            chosen.append(Item(item.key, item.image, (item.captions[cfg.caption_index],),
                               kinds=(_kinds(item)[cfg.caption_index],)))
        items = chosen
    if cfg.max_items:
        items = items[:cfg.max_items]
    items = [items[i] for i in retrieval_metrics.subset_indices(len(items), cfg.subset_size, cfg.subset_seed)]
    texts = [c for item in items for c in item.captions]
    owner = np.repeat(np.arange(len(items)), [len(item.captions) for item in items])
    return items, texts, owner, dict(skipped)


def _kinds(item: Item) -> tuple[str, ...]:
    return item.kinds if len(item.kinds) == len(item.captions) else ("unknown",) * len(item.captions)


class RetrievalEvaluator:
    kind = "retrieval"

    def __init__(self, cfg, *, tokenizer=None, tfds_source=None, mesh=None):
        self.cfg = config_lib.resolve(cfg, self.kind, DEFAULTS)
        if self.cfg.protocol not in retrieval_metrics.PROTOCOLS:
            raise ValueError(f"retrieval protocol must be one of {sorted(retrieval_metrics.PROTOCOLS)}, "
                             f"got {self.cfg.protocol!r}")
        self.name = self.cfg.name
        self.radiometry = config_lib.radiometry(self.cfg)
        self.data = open_set(self.cfg, "captions", tfds_source)
        self.items, self.texts, self.owner, extra = _pairs(self.data, self.cfg)
        self.kinds = [k for item in self.items for k in _kinds(item)]
        if not self.items:
            raise ValueError(f"{self.name}: no image-caption pair in {self.data.dataset} ({self.data.split})")
        self.skipped = {**self.data.skipped, **extra}
        self.tokenizer = tokenizer if tokenizer is not None else self.cfg.tokenizer
        self.mesh = mesh  # image batches split over its data axes; None: the default device
        self.last: RetrievalReport | None = None  # the latest run()'s result

    def run(self, model) -> list[tuple[str, float]]:
        cfg = self.cfg
        timings = embed.Timings()
        images = embed.embed_for(self, model, self.items, timings)
        # Drop failed images with their captions, and renumber the survivors.
        keep_text = images.ok[self.owner]
        new_index = np.cumsum(images.ok) - 1
        owner = new_index[self.owner[keep_text]]
        texts = [t for t, keep in zip(self.texts, keep_text, strict=True) if keep]
        kinds = [k for k, keep in zip(self.kinds, keep_text, strict=True) if keep]
        tokenizer = embed.build_tokenizer(self.tokenizer, model)
        text_emb = embed.embed_texts(model, texts, tokenizer, batch_size=cfg.text_batch_size, timings=timings)
        t0 = time.perf_counter()
        groups = np.array([caption_id(t) for t in texts], np.int64) if cfg.protocol == "any_match" else None
        known = any(k != "unknown" for k in kinds)
        result = retrieval_metrics.evaluate_retrieval(images.embeddings, text_emb, cfg.protocol,
                                                      text_image=owner, ks=tuple(cfg.ks), text_group=groups,
                                                      text_kinds=kinds if known else None)
        timings.metric_s += time.perf_counter() - t0
        self.last = RetrievalReport(
            **report.setup_fields(cfg, self.data, self.radiometry), result=result,
            subset_size=cfg.subset_size, subset_seed=cfg.subset_seed,
            failures=tuple(images.failures), timings=timings.as_dict(),
            counts=dict(images_listed=len(self.items), captions_listed=len(self.texts),
                        images_failed=len(images.failures), images_scored=result.num_images,
                        captions_scored=result.num_captions, skipped={k: len(v) for k, v in self.skipped.items()}))
        return self.last.headline()

    def write_report(self, out_dir, run_info: dict) -> dict:
        if self.last is None:
            raise RuntimeError(f"{self.name}: run() first; there is nothing to report")
        return self.last.write(out_dir, run_info)
