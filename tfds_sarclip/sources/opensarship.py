"""OpenSARShip (Sentinel-1 ship chips with AIS labels).

Layout, as public loaders describe it (no official specification was found; this is the most
documented variant): one folder per Sentinel-1 scene, each with `Patch_Cal/` holding calibrated
float GeoTIFF chips named `<ShipType>_x<col>_y<row>_<pol>.tif` (pol VV or VH; sibling folders
Patch/, Patch_Uint8/ and Patch_RGB/ hold other renderings and are not read):

    OpenSARShip*/<scene>/Patch_Cal/Cargo_x1203_y3391_vv.tif
    OpenSARShip*/<scene>/Patch_Cal/Cargo_x1203_y3391_vh.tif

The class is the file-name prefix. The two polarisations of one chip become one 2-band (VV, VH)
record; a chip with one polarisation stays single-band. Patch_Cal values are taken as linear
sigma0 intensity (the calibration the dataset paper describes). There is no official split:
every chip goes to train.
"""

from __future__ import annotations

import collections
import re

import numpy as np
from etils import epath

from sarclip_jax.data import sar_readers
from sarclip_jax.data.formats import paths
from tfds_sarclip.sources import common

NAME = "opensarship"
_CHIP = re.compile(r"^(?P<stem>(?P<cls>.+?)_x\d+_y\d+)(?:_(?P<pol>vv|vh|hh|hv))?$", re.IGNORECASE)
POL_ORDER = ("VV", "VH", "HH", "HV")


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["opensarship"])


def _chips(root: epath.Path):
    chips = collections.defaultdict(dict)  # (folder, stem) -> {pol: path}
    for f in paths.walk_files(root):
        if f.parent.name.lower() != "patch_cal" or f.suffix.lower() not in (".tif", ".tiff"):
            continue
        m = _CHIP.match(f.stem)
        if m is None:
            continue
        pol = (m.group("pol") or "VV").upper()
        chips[(str(f.parent), m.group("stem"))][pol] = (f, m.group("cls"))
    return chips


def _stack(files: list[epath.Path]):
    def load():
        bands = [sar_readers.read_image(f) for f in files]
        if any(b.ndim != 2 for b in bands) or len({b.shape for b in bands}) != 1:
            raise ValueError(f"polarisations of {files[0].name} differ in shape: {[b.shape for b in bands]}")
        return np.stack(bands, axis=-1).astype(np.float32) if len(bands) > 1 else bands[0].astype(np.float32)

    return load


def records(root: epath.Path, split: str, seed: int):
    if split != "train":
        return
    for (folder, stem), by_pol in sorted(_chips(root).items()):
        pols = [p for p in POL_ORDER if p in by_pol]
        files = [by_pol[p][0] for p in pols]
        cls = by_pol[pols[0]][1]
        label = common.words(cls)
        noun = label if re.search(r"ship|vessel|boat|craft|tug", label) else f"{label} ship"
        image_id = str(epath.Path(folder).relative_to(root) / stem)
        yield common.record(NAME, root, image_id, _stack(files), seed=seed, label=label,
                            objects=[(label, common.CENTRE_BOX)], nouns={label: (noun, noun + "s")},
                            scale="intensity", polarisation=",".join(pols), sensor="Sentinel-1")
