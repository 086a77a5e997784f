"""SARLANG-1M captions: the image folder plus caption CSV files, as the SARLANG-1M README lays
them out:

    SARLANG-1M*/SARimages/<name>.png|.jpg|.tif
    SARLANG-1M*/Text/caption/Caption-training.csv, Caption_test.csv, Caption_test1.csv

The CSV column names are not documented publicly; the image column is the one whose values
name image files, the caption column the other column with the longest text. Files whose name
contains "test" form the test split; the others train. `test_names` lets the builder drop test
images from train (SARLANG reuses SARDet-100K images, so this also guards that source's test set).
The captions are the source's own (no generated ones). Float TIFF originals are taken as
amplitude (not documented either). Only the file name of a CSV's image path is used; an image
that is a link leading out of the source's folder is `path_outside_root` and never read. A row
that is not UTF-8 text is a bad annotation; a caption file that cannot be parsed stops the build.
"""

from __future__ import annotations

import collections
import csv
import io
import re

from etils import epath

from sarclip_jax.data.formats import caption_csv, paths
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common

NAME = "sarlang1m"
_IMAGE = re.compile(r"\.(png|jpe?g|tiff?)$", re.IGNORECASE)


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["sarlang"])


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def read_pairs(path: epath.Path) -> list[tuple[str, str]]:
    text = caption_csv.read_text(path)
    sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sep)
        rows = list(reader)
    except csv.Error as e:
        raise report_lib.AnnotationFileError(f"{path}: not a readable CSV/TSV ({e})") from e
    if not rows:
        return []
    columns = [c for c in reader.fieldnames or [] if isinstance(c, str)]
    image_col = max(columns, key=lambda c: sum(bool(_IMAGE.search(_cell(r, c))) for r in rows), default=None)
    others = [c for c in columns if c != image_col]
    if image_col is None or not others or not any(_IMAGE.search(_cell(r, image_col)) for r in rows):
        raise report_lib.AnnotationFileError(f"{path}: need a column naming image files and a caption column "
                                             f"(columns {columns})")
    caption_col = max(others, key=lambda c: sum(len(_cell(r, c)) for r in rows))
    return [(_cell(r, image_col), _cell(r, caption_col)) for r in rows]


def _caption_files(root: epath.Path) -> list[epath.Path]:
    text = common.child(root, "Text")
    folder = common.child(text, "caption") if text else None
    return sorted([f for f in paths.walk_files(folder) if f.suffix.lower() in (".csv", ".tsv")],
                  key=lambda p: p.name) if folder else []


def _split_of(name: str) -> str:
    return "test" if "test" in name.lower() else "train"


def test_names(root: epath.Path) -> set[str]:
    return {_name(img) for f in _caption_files(root) if _split_of(f.name) == "test"
            for img, _ in read_pairs(f)} - {""}


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    if split == "validation":
        return
    grouped: dict[str, list[str]] = collections.OrderedDict()
    problems: dict[str, str] = {}
    for f in _caption_files(root):
        if _split_of(f.name) == split:
            for image, caption in read_pairs(f):
                name = _name(image)
                grouped.setdefault(name, []).append(caption)
                problem = caption_csv.row_problem(image, caption) or ("" if name else f"image path {image!r}")
                if problem:
                    problems.setdefault(name, f"{f.name}: {problem}")
    images = common.child(root, "SARimages")
    for name, caps in grouped.items():
        path = images / name if images else root / name
        problem, reason = problems.get(name, ""), ""
        if not problem and not paths.is_inside(path, [root]):  # a link out of the source's folder
            problem, reason = f"{path} leads outside {root}", report_lib.OUTSIDE_ROOT
        shown = name.encode("utf-8", "backslashreplace").decode()
        yield common.record(NAME, root, f"SARimages/{shown}", path.read_bytes, seed=seed, label="", objects=[],
                            given_captions=caps, sensor="multi-sensor", problem=problem, problem_reason=reason)


def _name(image: str) -> str:
    """The file name of a CSV's image path (its folders are the authors', not ours); "" if none."""
    name = re.split(r"[\\/]+", image)[-1]
    return "" if name in ("", ".", "..") else name
