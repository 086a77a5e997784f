"""FAIR-CSAR (Gaofen-3 single-look complex scenes with oriented boxes).

Layout, as public code that reads the release shows it (no official specification was found;
this is the most documented variant):

    FAIR-CSAR*/{train,test}/PNGImages/<stem>.png     8-bit amplitude rendering
    FAIR-CSAR*/{train,test}/Annotations/<stem>.txt   DOTA lines: x1 y1 ... x4 y4 class [difficult]
    FAIR-CSAR*/{train,test}/SLC*/<stem>.mat|.tif     complex SLC samples, when present

The SLC is stored when found (complex64, scale "complex"; a .mat's first complex array, a TIFF
of complex dtype, or a 2-band I/Q TIFF), else the PNG. Boxes are the axis-aligned hulls of the
oriented polygons, normalised by the PNG's size. Polarisation comes from the stem (GF3 names
carry _HH_ / _VV_ ...). The official test split stays test.
"""

from __future__ import annotations

import re

import numpy as np
from etils import epath

from sarclip_jax.data import sar_readers
from tfds_sarclip.sources import common

NAME = "fair_csar"
_POL = re.compile(r"_(HH|HV|VH|VV)_")


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["faircsar", "fair"])


def parse_dota(text: str) -> list[tuple[str, list[float]]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 9 or ":" in parts[0]:
            continue  # imagesource:/gsd: headers
        try:
            coords = [float(v) for v in parts[:8]]
        except ValueError:
            continue
        out.append((parts[8], coords))
    return out


def _slc_file(split_dir: epath.Path, stem: str) -> epath.Path | None:
    for folder in sorted(split_dir.iterdir(), key=lambda p: p.name):
        if folder.is_dir() and folder.name.upper().startswith("SLC"):
            for ext in (".mat", ".tif", ".tiff"):
                candidate = folder / f"{stem}{ext}"
                if candidate.exists():
                    return candidate
    return None


def load_slc(path: epath.Path) -> np.ndarray:
    if path.suffix.lower() == ".mat":
        return common.load_mat_complex(path)
    array = sar_readers.read_image(path)
    if np.iscomplexobj(array):
        return array.astype(np.complex64)
    if array.ndim == 3 and array.shape[-1] == 2:  # I and Q as two real bands
        return (array[..., 0].astype(np.float32) + 1j * array[..., 1].astype(np.float32)).astype(np.complex64)
    raise ValueError(f"{path}: SLC must be complex or 2-band I/Q, got {array.dtype} {array.shape}")


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    split_dir = common.child(root, split)
    ann_dir = common.child(split_dir, "Annotations") if split_dir else None
    png_dir = common.child(split_dir, "PNGImages") if split_dir else None
    if ann_dir is None:
        return
    for ann in sorted(ann_dir.iterdir(), key=lambda p: p.name):
        if ann.suffix.lower() != ".txt":
            continue
        stem = ann.stem
        png = png_dir / f"{stem}.png" if png_dir else None
        size = common.image_size(png) if png is not None and png.exists() else None
        objects, problem = [], "" if size else f"no readable PNGImages/{stem}.png to size the boxes"
        try:
            lines = parse_dota(ann.read_text()) if size else []
        except (OSError, UnicodeDecodeError) as e:
            lines, problem = [], f"{ann.name}: {type(e).__name__}: {e}"
        for cls, c in lines:
            xs, ys = c[0::2], c[1::2]
            label = common.words(cls)
            objects.append((label, common.pixel_box(min(xs), min(ys), max(xs), max(ys), *size)))
        slc = _slc_file(split_dir, stem)
        if slc is not None:
            load, scale = (lambda p=slc: load_slc(p)), "complex"
        else:
            load, scale = (png.read_bytes if png is not None else (lambda: b"")), "auto"
        m = _POL.search(stem)
        main = objects[0][0] if objects else ""
        yield common.record(NAME, root, f"{split}/{stem}", load, seed=seed, label=main, objects=objects,
                            scale=scale, polarisation=m.group(1) if m else "", sensor="Gaofen-3", problem=problem)
