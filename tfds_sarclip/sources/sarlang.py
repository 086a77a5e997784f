"""SARLANG-1M captions: the image folder plus caption CSV files, as the SARLANG-1M README lays
them out:

    SARLANG-1M*/SARimages/<name>.png|.jpg|.tif
    SARLANG-1M*/Text/caption/Caption-training.csv, Caption_test.csv, Caption_test1.csv

The CSV column names are not documented publicly; the image column is the one whose values
name image files, the caption column the other column with the longest text. Files whose name
contains "test" form the test split; the others train. `test_names` lets the builder drop test
images from train (SARLANG reuses SARDet-100K images, so this also guards that source's test set).
The captions are the source's own (no generated ones). Float TIFF originals are taken as
amplitude (not documented either).
"""

from __future__ import annotations

import collections
import csv
import io
import re

from etils import epath

from tfds_sarclip import paths
from tfds_sarclip.sources import common

NAME = "sarlang1m"
_IMAGE = re.compile(r"\.(png|jpe?g|tiff?)$", re.IGNORECASE)


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["sarlang"])


def read_pairs(path: epath.Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=sep))
    if not rows:
        return []
    columns = list(rows[0])
    image_col = max(columns, key=lambda c: sum(bool(_IMAGE.search((r.get(c) or "").strip())) for r in rows))
    if not any(_IMAGE.search((r.get(image_col) or "").strip()) for r in rows):
        raise ValueError(f"{path}: no column names image files (columns {columns})")
    others = [c for c in columns if c != image_col]
    caption_col = max(others, key=lambda c: sum(len(r.get(c) or "") for r in rows))
    return [((r.get(image_col) or "").strip(), (r.get(caption_col) or "").strip()) for r in rows]


def _caption_files(root: epath.Path) -> list[epath.Path]:
    text = common.child(root, "Text")
    folder = common.child(text, "caption") if text else None
    return sorted([f for f in paths.walk_files(folder) if f.suffix.lower() in (".csv", ".tsv")],
                  key=lambda p: p.name) if folder else []


def _split_of(name: str) -> str:
    return "test" if "test" in name.lower() else "train"


def test_names(root: epath.Path) -> set[str]:
    return {epath.Path(img).name for f in _caption_files(root) if _split_of(f.name) == "test"
            for img, _ in read_pairs(f)}


def records(root: epath.Path, split: str, seed: int):
    if split == "validation":
        return
    grouped: dict[str, list[str]] = collections.OrderedDict()
    for f in _caption_files(root):
        if _split_of(f.name) == split:
            for image, caption in read_pairs(f):
                grouped.setdefault(epath.Path(image).name, []).append(caption)
    images = common.child(root, "SARimages")
    for name, caps in grouped.items():
        path = images / name if images else root / name
        yield common.record(NAME, root, f"SARimages/{name}", path.read_bytes, seed=seed, label="", objects=[],
                            given_captions=caps, sensor="multi-sensor")
