"""Helpers shared by the source parsers: finding a source's folder, boxes, records with captions."""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import multiprocessing
import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
from etils import epath

from tfds_sarclip import captions, features

CENTRE_BOX = (0.3, 0.3, 0.7, 0.7)  # chips centred on one target whose extent is not annotated


@dataclasses.dataclass(frozen=True)
class Options:
    """What a build asks of every parser.

    seed: the caption phrasing seed. complex_slc: where a source ships complex SLC chips beside
    detected ones (OpenSARShip's SLC scenes), store the complex data (scale "complex") instead.
    note: where a parser reports a fact about a whole folder (a metadata file it could not read,
    an assumption it had to make); the builder passes its report's `note`.
    """

    seed: int = 0
    complex_slc: bool = False
    note: Callable[[str], None] = lambda message: None


def find_dir(manual_dir: epath.Path, prefixes: Iterable[str]) -> epath.Path | None:
    """The first sub-folder of manual_dir whose lower-cased name (without - and _) starts with a prefix."""
    wanted = [re.sub(r"[-_ ]", "", p.lower()) for p in prefixes]
    for p in sorted(manual_dir.iterdir(), key=lambda q: q.name):
        key = re.sub(r"[-_ ]", "", p.name.lower())
        if p.is_dir() and any(key.startswith(w) for w in wanted):
            return p
    return None


def child(folder: epath.Path, name: str) -> epath.Path | None:
    """A direct child by case-insensitive name."""
    if not folder.exists():
        return None
    for p in folder.iterdir():
        if p.name.lower() == name.lower():
            return p
    return None


def pixel_box(x0: float, y0: float, x1: float, y1: float, width: float, height: float):
    """Pixel corners -> normalised (ymin, xmin, ymax, xmax)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height}")
    return (y0 / height, x0 / width, y1 / height, x1 / width)


def words(label: str) -> str:
    """'Container_Ship' -> 'container ship'; keeps all-caps tokens (SUV, ZSU234) as they are."""
    parts = re.split(r"[_\s]+", label.strip())
    return " ".join(p if (p.isupper() and len(p) > 1) or any(c.isdigit() for c in p) else p.lower() for p in parts)


def record(source: str, root: epath.Path, path_or_id, load: Callable, *, seed: int, label: str,
           objects: list, nouns: Mapping[str, tuple[str, str]] | None = None, scale: str = "auto",
           float_scale: str = "amplitude", polarisation: str = "", sensor: str = "",
           given_captions: list[str] | None = None, allowed_bands=(1, 2, 3), background: str = "",
           problem: str = "", problem_reason: str = "") -> features.RawRecord:
    """A RawRecord whose five captions come from the generator (or the source's own captions).
    `problem` marks an unusable annotation: the record is then reported (as `problem_reason`, by
    default bad_annotation), not written."""
    image_id = str(path_or_id.relative_to(root)) if isinstance(path_or_id, epath.Path) else str(path_or_id)
    if not problem:
        try:  # before captions are written from them: a NaN or infinite box has no region
            features.check_objects(objects, image_id)
        except features.RecordError as e:
            problem = e.detail
    kinds: list[str] = []
    if problem:
        objects, given_captions = [], []
    elif given_captions is None:
        scene = captions.Scene(objects=objects, background=background, nouns=dict(nouns or {}))
        given_captions, kinds = captions.make_captions(scene, seed, f"{source}/{image_id}"), list(captions.KINDS)
    return features.RawRecord(source=source, image_id=image_id, load=load, scale=scale, float_scale=float_scale,
                              captions=given_captions, caption_kinds=kinds, label=label, objects=objects, polarisation=polarisation,
                              sensor=sensor, allowed_bands=allowed_bands, background=background, problem=problem,
                              problem_reason=problem_reason)


def image_size(path: epath.Path) -> tuple[int, int] | None:
    """(width, height) from an image header, without decoding the pixels; None if unreadable."""
    from PIL import Image

    try:
        with path.open("rb") as f, Image.open(f) as im:
            return im.size
    except Exception:  # a broken file is reported when its record is read, not here
        return None


def load_mat_complex(path: epath.Path, prefer: str = "") -> np.ndarray:
    """The complex (H, W[, C]) array under key `prefer`, else the first one, in a MATLAB .mat file
    (scipy ships with JAX).

    scipy's MAT reader can crash the whole interpreter (a segfault, not an exception) on a
    damaged file, so the file is parsed in a child process: a crash there becomes this record's
    error instead of the build's end.
    """
    global _MAT_POOL
    if _MAT_POOL is None:
        _MAT_POOL = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_MAT_POOL.shutdown, wait=False)
    try:
        return _MAT_POOL.submit(_parse_mat, path.read_bytes(), str(path), prefer).result()
    except concurrent.futures.process.BrokenProcessPool:
        _MAT_POOL.shutdown(wait=False)
        _MAT_POOL = None  # the child died; the next file gets a fresh one
        raise ValueError(f"{path}: the .mat reader crashed on this file (damaged or not a MAT file)") from None


_MAT_POOL: concurrent.futures.ProcessPoolExecutor | None = None


def _parse_mat(data: bytes, name: str, prefer: str = "") -> np.ndarray:
    import io

    import scipy.io

    try:
        contents = scipy.io.loadmat(io.BytesIO(data))
    except Exception as e:  # scipy raises many types on malformed files
        raise ValueError(f"{name}: not a readable .mat file ({type(e).__name__}: {e})") from None
    ordered = sorted(contents.items(), key=lambda kv: kv[0] != prefer)
    for key, value in ordered:
        if not key.startswith("__") and isinstance(value, np.ndarray) and np.iscomplexobj(value) and value.ndim in (2, 3):
            return value.astype(np.complex64)
    raise ValueError(f"{name}: no complex image array in the .mat file (keys {sorted(contents)})")