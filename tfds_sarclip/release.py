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
import csv
import io
import re

from etils import epath

from tfds_sarclip import features
from sarclip_jax.data.formats import paths
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


def read_text(path: epath.Path) -> str:
    """The file as text; bytes that are not UTF-8 survive as surrogates, so one bad row is a bad
    record (see `row_problem`) instead of an unreadable file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise report_lib.AnnotationFileError(f"{path}: cannot read ({type(e).__name__}: {e})") from e
    return data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")


def read_rows(path: epath.Path) -> list[tuple[str, str]]:
    """(image path, caption) rows of an OpenCLIP CSV/TSV."""
    text = read_text(path)
    header = text.split("\n", 1)[0]
    sep = "\t" if "\t" in header else ","
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sep)
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        img_key = next((fields[k] for k in IMAGE_KEYS if k in fields), None)
        cap_key = next((fields[k] for k in CAPTION_KEYS if k in fields), None)
        if img_key is None or cap_key is None:
            raise report_lib.AnnotationFileError(
                f"{path}: need an image column (one of {IMAGE_KEYS}) and a caption column (one of "
                f"{CAPTION_KEYS}); header is {reader.fieldnames}")
        return [((row.get(img_key) or "").strip(), (row.get(cap_key) or "").strip()) for row in reader]
    except csv.Error as e:
        raise report_lib.AnnotationFileError(f"{path}: not a readable CSV/TSV ({e})") from e


def row_problem(image_path: str, caption: str) -> str:
    """Why a row cannot name an image, or ""."""
    if any("\udc80" <= c <= "\udcff" for c in image_path + caption):
        return "not UTF-8 text"
    if "\0" in image_path:
        return "NUL byte in the image path"
    if not _key(image_path):
        return "empty image path"
    return ""


def resolve(image_path: str, roots: list[epath.Path]) -> epath.Path | None:
    """The file `image_path` names inside one of `roots`, or None if there is none. Raises
    paths.OutsideRootError if the path leads only out of the roots. Without `..` segments, leading
    folders are dropped one by one (foreign absolute paths); with them, only the path as given."""
    parts = [p for p in re.split(r"[\\/]+", image_path) if p not in ("", ".")]
    if not parts:
        return None
    escape = None
    candidate = epath.Path(image_path)
    if candidate.is_absolute() and candidate.exists():
        if paths.is_inside(candidate, roots):
            return candidate
        escape = candidate
    starts = range(1) if ".." in parts else range(len(parts))
    for start in starts:
        for root in roots:
            p = root.joinpath(*parts[start:])
            if not paths.is_inside(p, roots):  # `..` or a link out: not even looked at
                escape = escape or p
            elif p.exists():
                return p
    if escape is not None:
        raise paths.OutsideRootError(f"{image_path!r} leads outside {', '.join(map(str, roots))}")
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
    grouped: dict[str, list[str]] = collections.OrderedDict()  # key -> captions ("./a" and "a" are one image)
    where: dict[str, tuple[str, epath.Path]] = {}
    for path in csv_paths:
        for image_path, caption in read_rows(path):
            problem = row_problem(image_path, caption)
            if problem:
                shown = image_path.encode("utf-8", "backslashreplace").decode()
                report.skip(guess_source(shown), split, report_lib.BAD_ANNOTATION, f"{path.name}: {shown!r}",
                            problem)
                continue
            key = _key(image_path)
            grouped.setdefault(key, []).append(caption)
            where.setdefault(key, (image_path, path.parent))
    for key, captions in grouped.items():
        image_path, folder = where[key]
        source = guess_source(image_path)
        if split != "test" and key in held_out:
            report.skip(source, split, HELD_OUT, image_path)
            continue
        try:
            resolved = resolve(image_path, [folder, manual_dir])
        except paths.OutsideRootError as e:
            report.skip(source, split, report_lib.OUTSIDE_ROOT, image_path, str(e))
            continue
        yield features.RawRecord(source=source, image_id=key, captions=captions,
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
