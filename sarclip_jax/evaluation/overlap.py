"""Which images of an evaluation set are also in a training split: exact copies (the decoded
pixels hash alike), near copies (perceptual hashes within a threshold; sarclip_jax/data/overlap.py)
and shared regions (crops and tiles at the same pixel spacing; sarclip_jax/data/overlap_regions.py).

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
from sarclip_jax.data import overlap_regions, records
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
    pairs: list[dict]  # eval_key, eval_index, train_index, train_id, kind (exact | near | region), distance
    # (near; None otherwise); region pairs also: ncc, shared (of the eval image), offset [dy, dx]
    failed: dict[str, list[str]]  # "train" / "eval" -> keys of images that could not be read

    @property
    def exclude(self) -> list[int]:
        return sorted({p["train_index"] for p in self.pairs})

    def counts(self) -> dict[str, int]:
        return {"train_images": self.train_count, "eval_images": self.eval_count,
                "exact_pairs": sum(p["kind"] == "exact" for p in self.pairs),
                "near_pairs": sum(p["kind"] == "near" for p in self.pairs),
                "region_pairs": sum(p["kind"] == "region" for p in self.pairs),
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
                           "region": _REGION_METHOD, "threshold": self.threshold},
                "counts": self.counts(), "pairs": self.pairs, "exclude": self.exclude, "unreadable": self.failed}

    def to_markdown(self) -> str:
        c = self.counts()
        lines = ["# Train/eval overlap", "",
                 f"- training split: `{self.train}` ({self.train_split}), {c['train_images']} images",
                 f"- evaluation set: `{self.eval}` ({self.eval_split}), {c['eval_images']} images",
                 f"- exact copies (same decoded pixels): {c['exact_pairs']} pairs",
                 f"- near copies (perceptual hash distance <= {self.threshold} of 256 bits): {c['near_pairs']} pairs",
                 f"- shared regions (the same pixels at another window, >= {overlap_regions.MIN_SIDE} x "
                 f"{overlap_regions.MIN_SIDE} pixels, NCC >= {overlap_regions.MIN_NCC}): {c['region_pairs']} pairs",
                 f"- evaluation images with a copy in training: {c['eval_images_overlapping']}",
                 f"- training records to leave out (`exclude` in overlap.json): {c['train_images_to_exclude']}",
                 f"- unreadable images: {c['train_unreadable']} training, {c['eval_unreadable']} evaluation", ""]
        if self.pairs:
            lines += ["| evaluation image | training image | match |", "|---|---|---|"]
            lines += [f"| {p['eval_key']} | {p['train_id']} | {match_text(p)} |" for p in self.pairs[:50]]
            if len(self.pairs) > 50:
                lines.append(f"| ... {len(self.pairs) - 50} more in overlap.json | | |")
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


_REGION_METHOD = (f"the same pixels at the images' own spacing: {overlap_regions.BLOCK}-pixel block hashes placed, "
                  f"then checked: overlap >= {overlap_regions.MIN_SIDE} x {overlap_regions.MIN_SIDE} pixels, "
                  f"NCC of the grey levels >= {overlap_regions.MIN_NCC}")
_ORDER = {"exact": 0, "near": 1, "region": 2}


def match_text(pair: dict) -> str:
    if pair["kind"] == "near":
        return f"near, distance {pair['distance']}"
    if pair["kind"] == "region":
        return f"region, NCC {pair['ncc']:.2f}, {pair['shared']:.0%} of the eval image"
    return pair["kind"]


@dataclasses.dataclass
class _Hashed:
    exact: list[str]
    near: np.ndarray  # (n, len(CROPS), 32) uint8
    ok: np.ndarray  # indices of the images read
    failed: list[str]
    greys: list[np.ndarray]  # kept only when asked


def _hash_all(load, count, name_of, progress, keep_greys=False, on_grey=None) -> _Hashed:
    """Both hashes of every image; its grey image (overlap_regions.grey) kept or handed to
    on_grey(index, grey) where regions are searched. Each image is decoded once."""
    exact, near, ok, failed, greys = [], [], [], [], []
    for i in range(count):
        progress(1)
        try:
            record = load(i)
            decoded = records.decode_image(record)
            digest, view = hashes.pixel_hash(record, decoded), hashes.perceptual_hashes(record, decoded=decoded)
            grey = overlap_regions.grey(record, decoded=decoded) if keep_greys or on_grey is not None else None
        except Exception as e:  # a damaged image is reported, never fatal
            failed.append(f"{name_of(i)}: {type(e).__name__}: {e}")
            continue
        exact.append(digest)
        near.append(view)
        ok.append(i)
        if keep_greys:
            greys.append(grey)
        elif on_grey is not None:
            on_grey(i, grey)
    near = np.stack(near) if near else np.zeros((0, len(hashes.CROPS), 32), np.uint8)
    return _Hashed(exact, near, np.asarray(ok, np.int64), failed, greys)


def find_overlap(train_source, eval_set: EvalSet, *, train_name: str, train_split: str = "train",
                 threshold: int = hashes.NEAR_DISTANCE, regions: bool = True, progress=lambda n: None) -> OverlapReport:
    """Every (eval image, training record) pair that is an exact or near copy or, with `regions`,
    shares a region at the same pixel spacing (a pair is reported once, as the first of these)."""
    def train_id(i):
        return records.text_of(train_source[i].get("image_id", i))

    items = eval_set.items
    ev = _hash_all(lambda i: items[i].image.load(), len(items), lambda i: items[i].key, progress, keep_greys=regions)
    search = overlap_regions.RegionSearch(ev.greys) if regions else None
    tr = _hash_all(lambda i: train_source[i], len(train_source), str, progress,
                   on_grey=search.add if search is not None else None)
    by_pixels: dict[str, list[int]] = {}
    for k, h in zip(tr.ok.tolist(), tr.exact):
        by_pixels.setdefault(h, []).append(k)
    pairs = {}
    for e, h in zip(ev.ok.tolist(), ev.exact):
        for t in by_pixels.get(h, []):
            pairs[(e, t)] = {"kind": "exact", "distance": 0}
    for q, c, d in hashes.near_pairs(ev.near, tr.near, threshold):
        pairs.setdefault((int(ev.ok[q]), int(tr.ok[c])), {"kind": "near", "distance": d})
    for e, found in zip(ev.ok.tolist(), search.matches() if search is not None else []):
        for m in found:
            pairs.setdefault((e, m.train), {"kind": "region", "distance": None, "ncc": m.ncc, "shared": m.shared,
                                            "offset": [m.dy, m.dx]})
    rows = [{"eval_key": items[e].key, "eval_index": e, "train_index": t, "train_id": train_id(t), **match}
            for (e, t), match in pairs.items()]
    rows.sort(key=lambda p: (_ORDER[p["kind"]], p["distance"] or 0, -p.get("ncc", 1.0), p["eval_index"],
                             p["train_index"]))
    return OverlapReport(train=train_name, train_split=train_split, eval=eval_set.dataset, eval_split=eval_set.split,
                         threshold=threshold, train_count=len(train_source), eval_count=len(items), pairs=rows,
                         failed={"train": tr.failed, "eval": ev.failed})


def _grid(pairs, train_source, eval_set, path):
    views = [(hashes.model_view(eval_set.items[p["eval_index"]].image.load()),
              hashes.model_view(train_source[p["train_index"]])) for p in pairs]
    titles = [(p["eval_key"], f"{p['train_id']} ({match_text(p)})") for p in pairs]
    return plots.image_pairs_png(views, titles, path)
