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

No file outside manual_dir is read: a path that leads out of it (an absolute path that exists
elsewhere, `..`, a link pointing out) is reported as `path_outside_root`. A row that is not
UTF-8 text is a bad annotation; a CSV that cannot be parsed at all stops the build, naming it.
"""

from __future__ import annotations

import collections
import re

from etils import epath

from sarclip_jax.data.formats import caption_csv, paths
from tfds_sarclip import features
from tfds_sarclip import report as report_lib

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


def guess_source(image_path: str) -> str:
    lowered = image_path.lower()
    for hint in SOURCE_HINTS:
        if hint in lowered:
            return hint.replace("-", "_")
    return "sarclip1m"


def records(csv_paths: list[epath.Path], manual_dir: epath.Path, split: str, float_scale: str,
            held_out: set[str], report: report_lib.BuildReport):
    """RawRecords for one split, captions grouped per image, test images dropped from train."""
    grouped: dict[str, list[str]] = collections.OrderedDict()  # key -> captions ("./a" and "a" are one image)
    kinds: dict[str, list[str]] = collections.defaultdict(list)
    where: dict[str, tuple[str, epath.Path]] = {}
    for path in csv_paths:
        for image_path, caption, kind in caption_csv.read_rows_with_kinds(path):
            problem = caption_csv.row_problem(image_path, caption)
            if problem:
                shown = image_path.encode("utf-8", "backslashreplace").decode()
                report.skip(guess_source(shown), split, report_lib.BAD_ANNOTATION, f"{path.name}: {shown!r}",
                            problem)
                continue
            key = caption_csv.row_key(image_path)
            grouped.setdefault(key, []).append(caption)
            kinds[key].append(kind)
            where.setdefault(key, (image_path, path.parent))
    for key, captions in grouped.items():
        image_path, folder = where[key]
        source = guess_source(image_path)
        if split != "test" and key in held_out:
            report.skip(source, split, HELD_OUT, image_path)
            continue
        try:
            resolved = caption_csv.resolve(image_path, [folder, manual_dir])
        except paths.OutsideRootError as e:
            report.skip(source, split, report_lib.OUTSIDE_ROOT, image_path, str(e))
            continue
        yield features.RawRecord(source=source, image_id=key, captions=captions, caption_kinds=kinds[key],
                                 load=_loader(resolved, image_path), scale="auto", float_scale=float_scale)


def test_keys(csv_paths: list[epath.Path]) -> set[str]:
    return {caption_csv.row_key(img) for p in csv_paths for img, _ in caption_csv.read_rows(p)}


def _loader(resolved: epath.Path | None, image_path: str):
    def load():
        if resolved is None:
            raise FileNotFoundError(2, "image not found", image_path)
        return resolved.read_bytes()

    return load
