"""Parser for the released SARCLIP-1M pairs: OpenCLIP CSV/TSV files plus an image folder.

Layout in manual_dir (as the SARCLIP repository ships its retrieval list,
`data/retrieval_file_list.csv`: a tab-separated file with a `filename` and a `caption` column and
paths such as `./data/retrieval/001.tif`):

    manual_dir/
      train.csv            # or any *.csv / *.tsv; its name picks the split (below)
      test.csv             # "test" or "retrieval" in the name -> test split
      data/...             # the images, where the CSV's paths point

The separator (tab or comma) is sniffed from the header; the image column is the first of
IMAGE_KEYS found, the caption column the first of CAPTION_KEYS. Image paths are resolved against
the CSV's folder, then manual_dir, then by dropping leading path parts (released lists often
carry the authors' absolute paths). Rows sharing an image become one record with all their
captions. Images listed in a test file are removed from train, so the test set stays held out.
"""

from __future__ import annotations

import collections
import csv
import io
import re

from etils import epath

from tfds_sarclip import features
from tfds_sarclip import report as report_lib

IMAGE_KEYS = ("imgpath", "filepath", "filename", "image", "image_path", "path")
CAPTION_KEYS = ("caption", "title", "text", "captions")
SOURCE_HINTS = ("mstar", "sarsim", "opensarship", "sample", "atrnet", "sardet", "fair_csar", "fair-csar",
                "sarlang")
HELD_OUT = "held_out_in_test"


def split_of(csv_name: str, only_file: bool) -> str | None:
    stem = csv_name.lower()
    if re.search(r"test|retrieval", stem):
        return "test"
    if re.search(r"(^|[^a-z])val", stem):
        return "validation"
    if "train" in stem or only_file:
        return "train"
    return None


def find_csvs(manual_dir: epath.Path) -> dict[str, list[epath.Path]]:
    files = sorted([p for p in manual_dir.iterdir() if p.suffix.lower() in (".csv", ".tsv")], key=str)
    out: dict[str, list[epath.Path]] = collections.defaultdict(list)
    for p in files:
        split = split_of(p.name, only_file=len(files) == 1)
        if split:
            out[split].append(p)
    return dict(out)


def read_rows(path: epath.Path) -> list[tuple[str, str]]:
    """(image path, caption) rows of an OpenCLIP CSV/TSV."""
    text = path.read_text(encoding="utf-8-sig")
    header = text.split("\n", 1)[0]
    sep = "\t" if "\t" in header else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=sep)
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    img_key = next((fields[k] for k in IMAGE_KEYS if k in fields), None)
    cap_key = next((fields[k] for k in CAPTION_KEYS if k in fields), None)
    if img_key is None or cap_key is None:
        raise ValueError(f"{path}: need an image column (one of {IMAGE_KEYS}) and a caption column "
                         f"(one of {CAPTION_KEYS}); header is {reader.fieldnames}")
    return [((row.get(img_key) or "").strip(), (row.get(cap_key) or "").strip()) for row in reader]


def resolve(image_path: str, roots: list[epath.Path]) -> epath.Path | None:
    parts = [p for p in re.split(r"[\\/]+", image_path) if p not in ("", ".")]
    if not parts:
        return None
    candidate = epath.Path(image_path)
    if candidate.is_absolute() and candidate.exists():
        return candidate
    for start in range(len(parts)):  # progressively drop leading folders of foreign absolute paths
        for root in roots:
            p = root.joinpath(*parts[start:])
            if p.exists():
                return p
    return None


def guess_source(image_path: str) -> str:
    lowered = image_path.lower()
    for hint in SOURCE_HINTS:
        if hint in lowered:
            return hint.replace("-", "_")
    return "sarclip1m"


def records(csv_paths: list[epath.Path], manual_dir: epath.Path, split: str, float_scale: str,
            held_out: set[str], report: report_lib.BuildReport):
    """RawRecords for one split, captions grouped per image, test images dropped from train."""
    grouped: dict[str, list[str]] = collections.OrderedDict()
    where: dict[str, epath.Path] = {}
    for path in csv_paths:
        for image_path, caption in read_rows(path):
            grouped.setdefault(image_path, []).append(caption)
            where[image_path] = path.parent
    for image_path, captions in grouped.items():
        source = guess_source(image_path)
        if split != "test" and _key(image_path) in held_out:
            report.skip(source, split, HELD_OUT, image_path)
            continue
        resolved = resolve(image_path, [where[image_path], manual_dir])
        yield features.RawRecord(
            source=source, image_id=image_path.lstrip("./"), captions=captions,
            load=_loader(resolved, image_path), scale="auto", float_scale=float_scale)


def _key(image_path: str) -> str:
    return "/".join(p for p in re.split(r"[\\/]+", image_path) if p not in ("", "."))


def test_keys(csv_paths: list[epath.Path]) -> set[str]:
    return {_key(img) for p in csv_paths for img, _ in read_rows(p)}


def _loader(resolved: epath.Path | None, image_path: str):
    def load():
        if resolved is None:
            raise FileNotFoundError(2, "image not found", image_path)
        return resolved.read_bytes()

    return load
