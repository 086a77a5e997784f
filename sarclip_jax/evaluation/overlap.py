"""Which images of an evaluation set are also in a training split: exact copies (the decoded
pixels hash alike) and near copies (perceptual hashes within a threshold; sarclip_jax/data/overlap.py).

    report = find_overlap(train_source, open_set(cfg, "label"), name="sarclip1m/sources", ...)
    report.write(out_dir)   # overlap.json, overlap.md, overlap.png (the closest pairs)

`overlap.json` lists every pair and `exclude`: the training record indices to leave out, which
the training pipeline reads (`data.exclude=<path to overlap.json>`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from etils import epath

from sarclip_jax.data import overlap as hashes
from sarclip_jax.data import records
from sarclip_jax.evaluation import plots
from sarclip_jax.evaluation.sources import EvalSet

GRID_PAIRS = 12


@dataclasses.dataclass(frozen=True)
class OverlapReport:
    train: str
    train_split: str
    eval: str
    eval_split: str
    threshold: int
    train_count: int
    eval_count: int
    pairs: list[dict]  # eval_key, eval_index, train_index, train_id, kind (exact | near), distance
    failed: dict[str, list[str]]  # "train" / "eval" -> keys of images that could not be read

    @property
    def exclude(self) -> list[int]:
        return sorted({p["train_index"] for p in self.pairs})

    def counts(self) -> dict[str, int]:
        return {"train_images": self.train_count, "eval_images": self.eval_count,
                "exact_pairs": sum(p["kind"] == "exact" for p in self.pairs),
                "near_pairs": sum(p["kind"] == "near" for p in self.pairs),
                "eval_images_overlapping": len({p["eval_index"] for p in self.pairs}),
                "train_images_to_exclude": len(self.exclude),
                "train_unreadable": len(self.failed.get("train", [])),
                "eval_unreadable": len(self.failed.get("eval", []))}

    def to_json(self) -> dict:
        return {"train": {"dataset": self.train, "split": self.train_split},
                "eval": {"data": self.eval, "split": self.eval_split},
                "method": {"exact": "hash of the decoded pixels (dtype, shape, values)",
                           "near": f"256-bit DCT hashes of the eval-path model view (whole, centre 90% and 80%); "
                                   f"Hamming distance <= {self.threshold} of 256",
                           "threshold": self.threshold},
                "counts": self.counts(), "pairs": self.pairs, "exclude": self.exclude, "unreadable": self.failed}

    def to_markdown(self) -> str:
        c = self.counts()
        lines = ["# Train/eval overlap", "",
                 f"- training split: `{self.train}` ({self.train_split}), {c['train_images']} images",
                 f"- evaluation set: `{self.eval}` ({self.eval_split}), {c['eval_images']} images",
                 f"- exact copies (same decoded pixels): {c['exact_pairs']} pairs",
                 f"- near copies (perceptual hash distance <= {self.threshold} of 256 bits): {c['near_pairs']} pairs",
                 f"- evaluation images with a copy in training: {c['eval_images_overlapping']}",
                 f"- training records to leave out (`exclude` in overlap.json): {c['train_images_to_exclude']}",
                 f"- unreadable images: {c['train_unreadable']} training, {c['eval_unreadable']} evaluation", ""]
        if self.pairs:
            lines += ["| evaluation image | training image | kind | distance |", "|---|---|---|---:|"]
            lines += [f"| {p['eval_key']} | {p['train_id']} | {p['kind']} | {p['distance']} |" for p in self.pairs[:50]]
            if len(self.pairs) > 50:
                lines.append(f"| ... {len(self.pairs) - 50} more in overlap.json | | | |")
            lines += ["", "![closest pairs](overlap.png)", ""]
        return "\n".join(lines)

    def write(self, out_dir, train_source=None, eval_set: EvalSet | None = None) -> dict[str, epath.Path]:
        out = epath.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "overlap.json", "markdown": out / "overlap.md"}
        paths["json"].write_text(json.dumps(self.to_json(), indent=2) + "\n")
        paths["markdown"].write_text(self.to_markdown())
        if self.pairs and train_source is not None and eval_set is not None:
            paths["png"] = _grid(self.pairs[:GRID_PAIRS], train_source, eval_set, out / "overlap.png")
        return paths


def _hash_all(load, count, name_of, progress):
    exact, near, ok, failed = [], [], [], []
    for i in range(count):
        try:
            record = load(i)
            exact.append(hashes.pixel_hash(record))
            near.append(hashes.perceptual_hashes(record))
            ok.append(i)
        except Exception as e:  # a damaged image is reported, never fatal
            failed.append(f"{name_of(i)}: {type(e).__name__}: {e}")
        progress(1)
    empty = np.zeros((0, len(hashes.CROPS), 32), np.uint8)
    return exact, (np.stack(near) if near else empty), np.asarray(ok, np.int64), failed


def find_overlap(train_source, eval_set: EvalSet, *, train_name: str, train_split: str = "train",
                 threshold: int = hashes.NEAR_DISTANCE, progress=lambda n: None) -> OverlapReport:
    """Every (eval image, training record) pair that is an exact or near copy."""
    def train_id(i):
        return records.text_of(train_source[i].get("image_id", i))

    items = eval_set.items
    e_exact, e_near, e_ok, e_failed = _hash_all(lambda i: items[i].image.load(), len(items),
                                                lambda i: items[i].key, progress)
    t_exact, t_near, t_ok, t_failed = _hash_all(lambda i: train_source[i], len(train_source), str, progress)
    by_pixels: dict[str, list[int]] = {}
    for k, h in zip(t_ok.tolist(), t_exact):
        by_pixels.setdefault(h, []).append(k)
    pairs = {}
    for row, (e, h) in enumerate(zip(e_ok.tolist(), e_exact)):
        for t in by_pixels.get(h, []):
            pairs[(e, t)] = ("exact", 0)
    for q, c, d in hashes.near_pairs(e_near, t_near, threshold):
        pairs.setdefault((int(e_ok[q]), int(t_ok[c])), ("near", d))
    rows = [{"eval_key": items[e].key, "eval_index": e, "train_index": t, "train_id": train_id(t),
             "kind": kind, "distance": d} for (e, t), (kind, d) in pairs.items()]
    rows.sort(key=lambda p: (p["distance"], p["eval_index"], p["train_index"]))
    return OverlapReport(train=train_name, train_split=train_split, eval=eval_set.dataset, eval_split=eval_set.split,
                         threshold=threshold, train_count=len(train_source), eval_count=len(items), pairs=rows,
                         failed={"train": t_failed, "eval": e_failed})


def _grid(pairs, train_source, eval_set, path):
    views = [(hashes.model_view(eval_set.items[p["eval_index"]].image.load()),
              hashes.model_view(train_source[p["train_index"]])) for p in pairs]
    titles = [(p["eval_key"], f"{p['train_id']} ({p['kind']}, {p['distance']})") for p in pairs]
    return plots.image_pairs_png(views, titles, path)
