"""Caption lists: OpenCLIP CSV/TSV files of (image path, caption) rows, as SARCLIP ships them.

The separator (tab or comma) is sniffed from the header; the image column is the first of
IMAGE_KEYS found, the caption column the first of CAPTION_KEYS, an optional caption-kind column
the first of KIND_KEYS (rows without one have the kind "unknown"). Image paths resolve inside given
roots only (`resolve`): released lists often carry the authors' absolute paths, so leading folders
are dropped one by one, but nothing outside the roots is ever read. Read by the release builder
and by the retrieval evaluator.
"""

from __future__ import annotations

import csv
import io
import re

from etils import epath

from sarclip_jax.data.formats import paths

IMAGE_KEYS = ("imgpath", "filepath", "filename", "image", "image_path", "path")
CAPTION_KEYS = ("caption", "title", "text", "captions")
KIND_KEYS = ("caption_kind", "kind")
UNKNOWN_KIND = "unknown"  # the kind of a caption whose source does not say


class AnnotationFileError(ValueError):
    """An annotation or list file (CSV, COCO JSON) that cannot be parsed at all; names the file.
    It stops a build: such a file often decides the held-out test set, so guessing is unsafe."""


def read_text(path: epath.Path) -> str:
    """The file as text; bytes that are not UTF-8 survive as surrogates, so one bad row is a bad
    record (see `row_problem`) instead of an unreadable file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AnnotationFileError(f"{path}: cannot read ({type(e).__name__}: {e})") from e
    return data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")


def read_rows(path: epath.Path) -> list[tuple[str, str]]:
    """(image path, caption) rows of an OpenCLIP CSV/TSV."""
    return [(image, caption) for image, caption, _ in read_rows_with_kinds(path)]


def read_rows_with_kinds(path: epath.Path) -> list[tuple[str, str, str]]:
    """(image path, caption, caption kind) rows of an OpenCLIP CSV/TSV."""
    text = read_text(path)
    header = text.split("\n", 1)[0]
    sep = "\t" if "\t" in header else ","
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sep)
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        img_key = next((fields[k] for k in IMAGE_KEYS if k in fields), None)
        cap_key = next((fields[k] for k in CAPTION_KEYS if k in fields), None)
        if img_key is None or cap_key is None:
            raise AnnotationFileError(
                f"{path}: need an image column (one of {IMAGE_KEYS}) and a caption column (one of "
                f"{CAPTION_KEYS}); header is {reader.fieldnames}")
        kind_key = next((fields[k] for k in KIND_KEYS if k in fields), None)
        return [((row.get(img_key) or "").strip(), (row.get(cap_key) or "").strip(),
                 (row.get(kind_key) or "").strip() or UNKNOWN_KIND if kind_key else UNKNOWN_KIND) for row in reader]
    except csv.Error as e:
        raise AnnotationFileError(f"{path}: not a readable CSV/TSV ({e})") from e


def row_problem(image_path: str, caption: str) -> str:
    """Why a row cannot name an image, or ""."""
    if any("\udc80" <= c <= "\udcff" for c in image_path + caption):
        return "not UTF-8 text"
    if "\0" in image_path:
        return "NUL byte in the image path"
    if not row_key(image_path):
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


def row_key(image_path: str) -> str:
    return "/".join(p for p in re.split(r"[\\/]+", image_path) if p not in ("", "."))
