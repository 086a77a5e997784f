"""OpenSARShip: Sentinel-1 ship chips matched with AIS, read as the distribution's scene zips unpack.

Checked against real scenes of both releases (docs/data.md, "OpenSARShip"). One folder per
Sentinel-1 product, either at the top of the unpacked zip or one level down:

    <scene>/Ship.xml                one <ship> per chip: SAR box, AIS and MarineTraffic facts
    <scene>/<product>.xml           SNAP abstracted metadata (named Metedata.xml in some scenes)
    <scene>/Patch_Cal/<Class>_x<col>_y<row>.tif
        float32 calibrated intensity; dual-pol products: ONE file of 2 samples per pixel,
        band 0 = VH, band 1 = VV; single-pol products: a 2-D chip
    <scene>/Patch/<same name>.tif   GRD: amplitude DN; SLC: float32 I/Q pairs (VH I, VH Q, VV I, VV Q)
    <scene>/Patch_Uint8/, Patch_RGB/   8-bit renderings, not read

Records are Patch_Cal chips in the project's co-pol-first order: dual-pol chips become (VV, VH)
with polarisation "VV,VH", single-pol ones keep their one band. The polarisations come from the
metadata's `mdsN_tx_rx_polar` (in file band order) or, where those are "-", from the product
name's polarisation code (1SDV, 1SSV, 1SDH, 1SSH). With `Options.complex_slc`, SLC scenes give
their Patch/ I/Q chips as complex64 instead (scale "complex"), for SLC-aware training.

The label is MarineTraffic's `Elaborated_type` ("Container Ship", "Bulk Carrier", ...) where
Ship.xml has one; otherwise the file-name prefix, which is the AIS type category ("Cargo",
"Tanker", "Other Type", ...). The ship's AIS length (or MarineTraffic's length overall) goes into
the captions ("a 208 m container ship"). There is no official split: every chip goes to train.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import xml.etree.ElementTree as ET

import numpy as np
from etils import epath

from sarclip_jax.data import sar_readers
from sarclip_jax.data.formats import paths
from tfds_sarclip import captions
from tfds_sarclip.sources import common

NAME = "opensarship"
_CHIP = re.compile(r"^(?P<stem>(?P<cls>.+?)_x(?P<x>\d+)_y(?P<y>\d+))(?:_(?P<pol>vv|vh|hh|hv))?$", re.IGNORECASE)
# Sentinel-1 product names: S1A_IW_GRDH_1SDV_... ; "1S" is level 1 standard, then S(ingle) or
# D(ual) polarisation and the transmitted V or H.
_PRODUCT = re.compile(r"S1[A-D]_(?P<mode>IW|EW|SM|WV|S\d)_(?P<type>GRD[FHM]|SLC_)_1S(?P<n>[SD])(?P<pol>[VH])")
CO_POL_FIRST = ("VV", "HH", "VH", "HV")
# Elaborated_type values that name no type.
_UNKNOWN_TYPES = {"", "na", "n/a", "unspecified", "reserved", "unknown", "other"}
_RENAMED = {"law enforce": "law enforcement"}  # a truncated Elaborated_type seen in the real files
_SHIP_WORDS = re.compile(r"(ship|vessel|boat|carrier|tanker|tug|dredger|reefer|craft|barge|ferry)$")


@dataclasses.dataclass(frozen=True)
class Ship:
    """The facts of one Ship.xml entry that records use."""

    kind: str = ""  # MarineTraffic Elaborated_type, cleaned; "" when it names no type
    length_m: int = 0  # AIS length, else MarineTraffic length overall; 0 when unknown
    width_m: int = 0


@dataclasses.dataclass(frozen=True)
class Scene:
    folder: epath.Path
    product: str  # the Sentinel-1 product name, "" if neither metadata nor folder names it
    slc: bool
    file_pols: tuple[str, ...]  # polarisation of each Patch_Cal band, in file order
    ships: dict[tuple[int, int], Ship]

    @property
    def sensor(self) -> str:
        return f"Sentinel-1 {'IW SLC (slant range)' if self.slc else 'IW GRD'}"


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["opensarship"])


# --- scene files -----------------------------------------------------------------------------------

def read_ships(path: epath.Path) -> dict[tuple[int, int], Ship]:
    """Ship.xml -> {(Center_x, Center_y): Ship}. Half of the real files end with `<\\ShipList>` (a
    backslash), which is repaired before parsing; any other damage raises ValueError naming the file."""
    text = path.read_bytes().decode("utf-8", errors="replace").replace("<\\ShipList>", "</ShipList>")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ValueError(f"{path}: not readable as XML ({e})") from None
    ships = {}
    for ship in root.iter("ship"):
        centre = (_int(ship.findtext("SARShipInformation/Center_x")), _int(ship.findtext("SARShipInformation/Center_y")))
        if None in centre:
            continue
        length = _int(ship.findtext("AISShipInformation/Length")) or _int(
            ship.findtext("MarineTrafficInformation/Length_overall"))
        width = _int(ship.findtext("AISShipInformation/Width")) or _int(
            ship.findtext("MarineTrafficInformation/Breadth_extreme"))
        ships[centre] = Ship(kind=clean_type(ship.findtext("MarineTrafficInformation/Elaborated_type") or ""),
                             length_m=length or 0, width_m=width or 0)
    return ships


def clean_type(text: str) -> str:
    """'Tanker - Hazard A (Major)' -> 'Tanker'; placeholders ('NA', 'Unspecified') -> ''."""
    kind = re.sub(r"\s+-\s+Hazard.*$", "", text.strip())
    return "" if kind.lower() in _UNKNOWN_TYPES else kind


def _int(text: str | None) -> int | None:
    try:
        value = round(float(text))
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def read_metadata(path: epath.Path) -> dict[str, str]:
    """SNAP abstracted metadata: <attrib name=... value=...> under Abstracted_Metadata."""
    root = ET.fromstring(path.read_bytes())
    return {a.get("name", ""): a.get("value", "") for a in root.iter("attrib") if a.get("name")}


def _metadata_file(folder: epath.Path) -> epath.Path | None:
    xmls = [p for p in folder.iterdir() if p.suffix.lower() == ".xml" and p.name.lower() != "ship.xml"]
    return sorted(xmls, key=lambda p: (p.name.lower() != "metedata.xml", p.name))[0] if xmls else None


def polarisations(product: str, metadata: dict[str, str]) -> tuple[str, ...]:
    """Polarisation of each Patch_Cal band in file order: the metadata's mdsN_tx_rx_polar where set
    (VH, VV in the real dual-pol files; a single-pol SLC scene lists VV twice), else the product code."""
    listed = [metadata.get(f"mds{i}_tx_rx_polar", "-").upper() for i in range(1, 5)]
    listed = list(dict.fromkeys(p for p in listed if p in CO_POL_FIRST))
    if listed:
        return tuple(listed)
    m = _PRODUCT.search(product)
    if m is None:
        return ()
    co = m.group("pol") * 2
    cross = "VH" if co == "VV" else "HV"
    return (cross, co) if m.group("n") == "D" else (co,)


def read_scene(folder: epath.Path, note) -> Scene:
    metadata: dict[str, str] = {}
    meta_file = _metadata_file(folder)
    if meta_file is not None:
        try:
            metadata = read_metadata(meta_file)
        except ET.ParseError as e:
            note(f"{NAME}: {meta_file}: metadata not readable ({e}); polarisation taken from the folder name")
    names = [metadata.get("PRODUCT", ""), *(p.name for p in (folder, *folder.parents))]
    product = next((n for n in names if _PRODUCT.search(n)), "")
    pols = polarisations(product, metadata)
    if not pols:
        pols = ("VH", "VV")  # OpenSARShip holds only VV and VV+VH products
        note(f"{NAME}: {folder}: no Sentinel-1 product name in the metadata or folder names; "
             "assumed VV single-pol / VH,VV dual-pol chips (keep the scene folder named after its product)")
    ships: dict[tuple[int, int], Ship] = {}
    ship_file = common.child(folder, "Ship.xml")
    if ship_file is None:
        note(f"{NAME}: {folder}: no Ship.xml; labels come from the file names")
    else:
        try:
            ships = read_ships(ship_file)
        except ValueError as e:
            note(f"{NAME}: {e}; labels come from the file names")
    slc = bool(metadata.get("PRODUCT_TYPE", "").upper() == "SLC" or "_SLC_" in product)
    return Scene(folder=folder, product=product, slc=slc, file_pols=pols, ships=ships)


# --- chips -----------------------------------------------------------------------------------------

def _chips(patch_dir: epath.Path) -> dict[str, dict[str, epath.Path]]:
    """stem -> {file polarisation suffix ('' for the distributed one-file chips): path}. Per-band
    files (`<stem>_vv.tif`, `<stem>_vh.tif`) are what some users' conversions hold."""
    chips: dict[str, dict[str, epath.Path]] = collections.defaultdict(dict)
    for f in sorted(patch_dir.iterdir(), key=lambda p: p.name):
        m = _CHIP.match(f.stem)
        if m and f.suffix.lower() in (".tif", ".tiff") and not f.name.startswith("."):
            chips[m.group("stem")][(m.group("pol") or "").upper()] = f
    return chips


def _co_first(pols) -> list[str]:
    return sorted(pols, key=CO_POL_FIRST.index)


def _calibrated(files: dict[str, epath.Path], file_pols: tuple[str, ...], product: str):
    """Loader and polarisation string of one Patch_Cal chip (bands reordered co-pol first)."""
    if "" not in files:  # per-band files: the suffixes name the bands
        order = _co_first(files)

        def load_bands():
            bands = [sar_readers.read_image(files[p]) for p in order]
            if any(b.ndim != 2 for b in bands) or len({b.shape for b in bands}) != 1:
                raise ValueError(f"{files[order[0]].name}: per-polarisation files must be 2-D chips of one "
                                 f"shape, got {[b.shape for b in bands]}")
            return np.stack(bands, axis=-1).astype(np.float32)

        return load_bands, ",".join(order)
    path, order = files[""], _co_first(file_pols)
    index = [file_pols.index(p) for p in order]

    def load():
        array = sar_readers.read_image(path)
        bands = 1 if array.ndim == 2 else array.shape[-1]
        if bands != len(file_pols):
            raise ValueError(f"{path.name}: {bands} band(s) in {product or 'a scene'} whose chips have "
                             f"{len(file_pols)} ({','.join(file_pols)}); is the file from another scene?")
        return (array if array.ndim == 2 else array[..., index]).astype(np.float32)

    return load, ",".join(order)


def _complex(path: epath.Path, file_pols: tuple[str, ...]):
    """Loader of a Patch/ SLC chip: float32 I/Q pairs, one pair per polarisation in file order."""
    order = _co_first(file_pols)

    def load():
        array = sar_readers.read_image(path)
        if array.ndim != 3 or array.shape[-1] != 2 * len(file_pols):
            raise ValueError(f"{path.name}: expected {2 * len(file_pols)} I/Q bands for "
                             f"{','.join(file_pols)}, got shape {array.shape}")
        pairs = {p: array[..., 2 * i] + 1j * array[..., 2 * i + 1] for i, p in enumerate(file_pols)}
        out = np.stack([pairs[p] for p in order], axis=-1) if len(order) > 1 else pairs[order[0]]
        return out.astype(np.complex64)

    return load, ",".join(order)


def describe(cls_prefix: str, ship: Ship | None) -> tuple[str, tuple[str, str]]:
    """(label, caption noun (singular, plural)): the fine type when known, with the ship's length."""
    label = common.words(ship.kind if ship and ship.kind else cls_prefix)
    label = _RENAMED.get(label, label)
    if label in ("other type", "other"):
        thing = "ship"
    elif _SHIP_WORDS.search(label):
        thing = label
    elif label in ("fishing", "law enforcement"):
        thing = f"{label} vessel"
    else:
        thing = f"{label} ship"
    singular, plural = thing, captions.noun(thing, 2)
    if ship and ship.length_m:
        singular, plural = f"{ship.length_m} m {singular}", f"{ship.length_m} m {plural}"
    return label, (singular, plural)


def _scene_folders(root: epath.Path) -> list[epath.Path]:
    found = {f.parent.parent for f in paths.walk_files(root) if f.parent.name.lower() == "patch_cal"}
    return sorted(found, key=str)


def records(root: epath.Path, split: str, options: common.Options):
    if split != "train":
        return
    for folder in _scene_folders(root):
        scene = read_scene(folder, options.note)
        patch_cal = common.child(folder, "Patch_Cal")
        patch = common.child(folder, "Patch")
        for stem, files in sorted(_chips(patch_cal).items()):
            m = _CHIP.match(stem)
            label, noun = describe(m.group("cls"), scene.ships.get((int(m.group("x")), int(m.group("y")))))
            slc_file = common.child(patch, files[""].name) if patch and "" in files else None
            if options.complex_slc and scene.slc and slc_file is not None:
                load, pols = _complex(slc_file, scene.file_pols)
                scale, image_id = "complex", patch / stem
            else:
                load, pols = _calibrated(files, scene.file_pols, scene.product)
                scale, image_id = "intensity", patch_cal / stem
            yield common.record(NAME, root, image_id, load, seed=options.seed, label=label,
                                objects=[(label, common.CENTRE_BOX)], nouns={label: noun}, scale=scale,
                                polarisation=pols, sensor=scene.sensor, background="sea")
