"""SARLANG-1M captions: the image folder plus caption CSV files, as the SARLANG-1M README lays
them out (built from that description; no real CSV was available, see docs/data.md "SARLANG-1M"):

    SARLANG-1M*/SARimages/<name>.png|.jpg|.tif
    SARLANG-1M*/Text/caption/Caption-training.csv, Caption_test.csv, Caption_test1.csv

The CSV column names are not documented publicly; the image column is the one whose values
name image files, the caption column the other column with the longest text, and the build
report names the columns chosen. Files whose name contains "test" form the test split; the
others train. `test_names` lets the builder drop test images from train (SARLANG reuses
SARDet-100K images, so this also guards that source's test set). The captions are the source's
own (no generated ones).

Images: the release offers each image as the original .tif and as a preprocessed .png, and a
user may keep only one, so a name missing from SARimages/ is looked up with the other extension
(the report counts these; the two differ in radiometry). SARDet-100K images, which the README
asks users to copy into SARimages/, are also found in a SARDet-100K folder beside this one
(`JPEGImages/<split>/`), without copying. Float TIFF originals are taken as amplitude (not
documented either). Only the file name of a CSV's image path is used; an image that is a link
leading out of the source folders is `path_outside_root` and never read. A row that is not UTF-8
text is a bad annotation; a caption file that cannot be parsed stops the build.
"""

from __future__ import annotations

import collections
import csv
import io
import re

from etils import epath

from sarclip_jax.data.formats import caption_csv, paths
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common, sardet

NAME = "sarlang1m"
_IMAGE = re.compile(r"\.(png|jpe?g|tiff?)$", re.IGNORECASE)


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["sarlang"])


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def read_pairs(path: epath.Path, note=lambda message: None) -> list[tuple[str, str]]:
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
    note(f"{NAME}: {path.name}: image column {image_col!r}, caption column {caption_col!r} (chosen by content)")
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
            for image, caption in read_pairs(f, options.note):
                name = _name(image)
                grouped.setdefault(name, []).append(caption)
                problem = caption_csv.row_problem(image, caption) or ("" if name else f"image path {image!r}")
                if problem:
                    problems.setdefault(name, f"{f.name}: {problem}")
    images = common.child(root, "SARimages") or root
    sardet_root = sardet.find(root.parent)
    locate = _Locator(images, sardet_root)
    for name, caps in grouped.items():
        path = locate(name)
        problem, reason = problems.get(name, ""), ""
        allowed = [root] + ([sardet_root] if sardet_root is not None else [])
        if not problem and not paths.is_inside(path, allowed):  # a link out of the source folders
            problem, reason = f"{path} leads outside {root}", report_lib.OUTSIDE_ROOT
        shown = name.encode("utf-8", "backslashreplace").decode()
        yield common.record(NAME, root, f"SARimages/{shown}", path.read_bytes, seed=seed, label="", objects=[],
                            given_captions=caps, sensor="multi-sensor", problem=problem, problem_reason=reason)
    for message in locate.summary():
        options.note(message)


class _Locator:
    """Where a CSV's image name is: SARimages/<name>, else its .tif/.png twin there, else (for
    SARDet-100K names) the SARDet-100K folder's JPEGImages/<split>/<name>. Counts the substitutes."""

    TWINS = {".tif": (".png",), ".tiff": (".png",), ".png": (".tif", ".tiff")}

    def __init__(self, images: epath.Path, sardet_root: epath.Path | None):
        self.images, self.sardet_root = images, sardet_root
        self._sardet: dict[str, epath.Path] | None = None
        self.twins = self.from_sardet = 0

    def __call__(self, name: str) -> epath.Path:
        path = self.images / name
        if path.exists():
            return path
        stem, suffix = (name.rsplit(".", 1) + [""])[:2]
        for twin in self.TWINS.get(f".{suffix.lower()}", ()):
            candidate = self.images / f"{stem}{twin}"
            if candidate.exists():
                self.twins += 1
                return candidate
        found = self._sardet_index().get(name)
        if found is not None:
            self.from_sardet += 1
            return found
        return path  # reported as missing when read

    def _sardet_index(self) -> dict[str, epath.Path]:
        if self._sardet is None:
            self._sardet = {}
            folder = common.child(self.sardet_root, "JPEGImages") if self.sardet_root is not None else None
            for split_dir in sorted(folder.iterdir(), key=lambda p: p.name) if folder else []:
                if split_dir.is_dir():
                    self._sardet.update({f.name: f for f in split_dir.iterdir()})
        return self._sardet

    def summary(self) -> list[str]:
        out = []
        if self.twins:
            out.append(f"{NAME}: {self.twins} image(s) named in the CSVs were read from their .tif/.png twin in "
                       f"{self.images} (the .png copies are preprocessed, the .tif originals are not)")
        if self.from_sardet:
            out.append(f"{NAME}: {self.from_sardet} SARDet-100K image(s) were read from {self.sardet_root}")
        return out


def _name(image: str) -> str:
    """The file name of a CSV's image path (its folders are the authors', not ours); "" if none."""
    name = re.split(r"[\\/]+", image)[-1]
    return "" if name in ("", ".", "..") else name
