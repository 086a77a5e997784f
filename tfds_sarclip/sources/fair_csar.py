"""FAIR-CSAR (Gaofen-3 single-look complex scenes with oriented boxes), in the layout of the
authors' own detector code (built from that description; no real file was available, see
docs/data.md "FAIR-CSAR"):

    FAIR-CSAR*/[VOC-SL/ | VOC-FSI/]{trainval,test}/Annotations/<stem>.txt   (annfiles/ in VOC-FSI)
    FAIR-CSAR*/[VOC-SL/ | VOC-FSI/]{trainval,test}/SLCMats/<stem>.mat       complex SLC under key "data"

VOC-SL carries the 22 fine-grained classes, VOC-FSI the same scenes with 3 coarse ones; when
both are present the fine-grained one is read. Annotation lines are DOTA polygons: x1 y1 ... x4
y4 class difficulty. The SLC is stored as complex64 (scale "complex"); the boxes (axis-aligned
hulls of the polygons) are normalised by the SLC's own shape, read from the .mat header without
loading the samples. A PNGImages/<stem>.png rendering, where a user has one, is the fallback for
both. Empty annotation files are reported as `outside_protocol` (the authors' loader skips them).
trainval becomes train; the official test split stays test. Polarisation comes from the stem
(GF3 names carry _HH_ / _VV_ ...), which is not confirmed by a real file name.
"""

from __future__ import annotations

import re

import numpy as np
from etils import epath

from sarclip_jax.data import sar_readers
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common

NAME = "fair_csar"
SPLIT_FOLDERS = {"train": ("trainval", "train"), "test": ("test",)}
ANNOTATION_FOLDERS = ("Annotations", "annfiles")
SLC_KEY = "data"
_POL = re.compile(r"_(HH|HV|VH|VV)_")


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["faircsar", "fair"])


def parse_dota(text: str) -> list[tuple[str, list[float]]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 9 or ":" in parts[0]:
            continue  # imagesource:/gsd: headers of DOTA files elsewhere
        try:
            coords = [float(v) for v in parts[:8]]
        except ValueError:
            continue
        out.append((parts[8], coords))
    return out


def _variant(root: epath.Path) -> epath.Path:
    """The folder holding the split folders: root itself, else VOC-SL before VOC-FSI (or any other)."""
    def has_splits(folder):
        return any(common.child(folder, name) for names in SPLIT_FOLDERS.values() for name in names)

    if has_splits(root):
        return root
    subfolders = sorted((p for p in root.iterdir() if p.is_dir() and has_splits(p)),
                        key=lambda p: (not re.search(r"(^|[-_])sl$", p.name.lower()), p.name))
    return subfolders[0] if subfolders else root


def _split_dir(root: epath.Path, split: str) -> epath.Path | None:
    for name in SPLIT_FOLDERS.get(split, ()):
        found = common.child(root, name)
        if found is not None:
            return found
    return None


def slc_shape(path: epath.Path) -> tuple[int, int]:
    """(height, width) of the SLC in a .mat file, from its header (scipy.io.whosmat)."""
    import scipy.io

    try:
        with path.open("rb") as f:
            entries = scipy.io.whosmat(f)
    except Exception as e:  # scipy raises many types on malformed files
        raise ValueError(f"{path.name}: not a readable .mat file ({type(e).__name__}: {e})") from None
    shapes = {name: shape for name, shape, _ in entries}
    shape = shapes.get(SLC_KEY) or next((s for s in shapes.values() if len(s) == 2), None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"{path.name}: no 2-D '{SLC_KEY}' array (variables {shapes})")
    return int(shape[0]), int(shape[1])


def load_slc(path: epath.Path) -> np.ndarray:
    if path.suffix.lower() == ".mat":
        return common.load_mat_complex(path, prefer=SLC_KEY)
    array = sar_readers.read_image(path)
    if np.iscomplexobj(array):
        return array.astype(np.complex64)
    if array.ndim == 3 and array.shape[-1] == 2:  # I and Q as two real bands
        return (array[..., 0].astype(np.float32) + 1j * array[..., 1].astype(np.float32)).astype(np.complex64)
    raise ValueError(f"{path}: SLC must be complex or 2-band I/Q, got {array.dtype} {array.shape}")


def _child_file(split_dir: epath.Path, folder_prefix: str, stem: str, suffixes) -> epath.Path | None:
    for folder in sorted(split_dir.iterdir(), key=lambda p: p.name):
        if folder.is_dir() and folder.name.upper().startswith(folder_prefix.upper()):
            for ext in suffixes:
                candidate = folder / f"{stem}{ext}"
                if candidate.exists():
                    return candidate
    return None


def records(root: epath.Path, split: str, options: common.Options):
    split_dir = _split_dir(_variant(root), split)
    ann_dir = next((d for d in (common.child(split_dir, n) for n in ANNOTATION_FOLDERS) if d), None) \
        if split_dir else None
    if ann_dir is None:
        return
    for ann in sorted(ann_dir.iterdir(), key=lambda p: p.name):
        if ann.suffix.lower() == ".txt":
            yield _record(root, split_dir, ann, options.seed)


def _record(root: epath.Path, split_dir: epath.Path, ann: epath.Path, seed: int):
    stem = ann.stem
    slc = _child_file(split_dir, "SLC", stem, (".mat", ".tif", ".tiff"))
    png = _child_file(split_dir, "PNGImages", stem, (".png",))
    problem, reason, size = "", "", None
    try:
        if slc is not None and slc.suffix.lower() == ".mat":
            height, width = slc_shape(slc)
            size = (width, height)
        elif png is not None:
            size = common.image_size(png)
        if size is None:
            problem = f"no SLCMats/{stem}.mat (nor a PNGImages/{stem}.png) to read and size the boxes by"
            reason = report_lib.MISSING_FILE
    except ValueError as e:
        problem, reason = str(e), report_lib.UNREADABLE
    try:
        lines = parse_dota(ann.read_text()) if size else []
    except (OSError, UnicodeDecodeError) as e:
        lines, problem, reason = [], f"{ann.name}: {type(e).__name__}: {e}", ""
    if size and not lines and not problem:
        problem, reason = f"{ann.name}: no box (the authors' loader skips empty files)", report_lib.OUTSIDE_PROTOCOL
    objects = []
    for cls, c in lines:
        xs, ys = c[0::2], c[1::2]
        objects.append((common.words(cls), common.pixel_box(min(xs), min(ys), max(xs), max(ys), *size)))
    if slc is not None:
        load, scale = (lambda p=slc: load_slc(p)), "complex"
    else:
        load, scale = (png.read_bytes if png is not None else (lambda: b"")), "auto"
    m = _POL.search(stem)
    main = objects[0][0] if objects else ""
    return common.record(NAME, root, f"{split_dir.name}/{stem}", load, seed=seed, label=main, objects=objects,
                         scale=scale, polarisation=m.group(1) if m else "", sensor="Gaofen-3", problem=problem,
                         problem_reason=reason)
