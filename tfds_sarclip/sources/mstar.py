"""MSTAR: 10 ground-vehicle classes under the SOC protocol, as raw Phoenix chips or as JPEG/PNG
class folders.

Raw chips (the SDMS CDs, e.g. MSTAR_PUBLIC_MIXED_TARGETS_CD1/2 and
MSTAR_PUBLIC_TARGETS_CHIPS_T72_BMP2_BTR70_SLICY, files named HB*.<serial number>; checked against
real chips, docs/data.md "MSTAR"): a Phoenix header, then big-endian float32 magnitude and phase.
Class from the header's TargetType, depression from DesiredDepression (never from the file
extension, which numbers the chip within its scene), serial from TargetSerNum. The magnitude is
stored as float32 amplitude; the phase is dropped.

Converted class folders (what the MSTAR tools' JPEG export and most users hold), e.g.
TRAIN/17_DEG/BRDM_2/HB14931.JPG or TARGETS/TEST/15_DEG/T72/SN_132/HB03333.JPG: the class is the
folder named after one of the 10 classes, the depression an `NN_DEG` folder, the serial an
`SN_<serial>` folder; without a depression folder a "test" folder means test.

SOC (standard operating conditions): train at 17 degrees, test at 15, and for the three classes
the CDs hold in several serials only the SOC vehicle (BMP2 9563, BTR70 c71, T72 132; the other
serials are the EOC variants). Chips outside SOC are reported as `outside_protocol` with their
depression or serial, not written. SLICY and other non-target chips are left out silently.
"""

from __future__ import annotations

import re

import numpy as np
from etils import epath

from sarclip_jax.data.formats import imagefolder, paths
from sarclip_jax.data.formats.mstar import PhoenixError, canonical_class, is_phoenix, parse_header, read_phoenix
from sarclip_jax.text import prompts
from tfds_sarclip import captions, features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common

NAME = "mstar"
NOUNS = prompts.caption_nouns(prompts.MSTAR_CLASSES)
SOC_SPLITS = {17: "train", 15: "test"}  # depression (degrees) -> split
SOC_SERIALS = {"BMP2": "9563", "BTR70": "c71", "T72": "132"}
# MSTAR chips centre the target; its extent is not annotated, so the box is nominal.
CENTRE_BOX = (0.35, 0.35, 0.65, 0.65)
_DEG_FOLDER = re.compile(r"^(\d+)_?DEG$", re.IGNORECASE)
_SN_FOLDER = re.compile(r"^SN_?(\w+)$", re.IGNORECASE)


def find(manual_dir: epath.Path) -> epath.Path | None:
    for p in sorted(manual_dir.iterdir(), key=str):
        if p.is_dir() and p.name.lower().startswith("mstar"):
            return p
    return None


def soc_split(label: str, depression: int | None, serial: str, default: str) -> tuple[str, str]:
    """(split, why it is outside SOC or ""). `default` is the split when the depression is unknown."""
    if serial and label in SOC_SERIALS and serial.lower() != SOC_SERIALS[label].lower():
        return "", f"serial {serial}: SOC's {label} is serial {SOC_SERIALS[label]} (the others are EOC variants)"
    if depression is None:
        return default, ""
    if depression not in SOC_SPLITS:
        return "", f"depression {depression} degrees: SOC trains at 17 and tests at 15"
    return SOC_SPLITS[depression], ""


def outside_soc(path: epath.Path, rel_parts: tuple[str, ...], split: str) -> str:
    """Why a file of an MSTAR class-folder tree is not an SOC `split` chip ("" when it is one):
    its depression and serial from an NN_DEG / SN_<serial> folder or, for a raw chip, its header."""
    label, depression, serial, _ = _folder_facts(rel_parts)
    if imagefolder.is_candidate(path) and path.suffix.lower() not in imagefolder.IMAGE_SUFFIXES:
        try:
            header = parse_header(path.open("rb").read(8192))
            label = canonical_class(header.get("TargetType", "")) or label
            depression = _depression(header.get("DesiredDepression", "")) or depression
            serial = header.get("TargetSerNum", "") or serial
        except (PhoenixError, OSError):
            pass  # not a raw chip: the folder names are all there is
    if label is None:
        return ""
    chip_split, why = soc_split(label, depression, serial, split)
    if why:
        return why
    return "" if chip_split == split else f"depression {depression} degrees: an SOC {chip_split} chip, not {split}"


def _record(root, path, label, seed, load, problem=""):
    rel = str(path.relative_to(root))
    scene = captions.Scene(objects=[(label, CENTRE_BOX)], background="", nouns=NOUNS)
    return features.RawRecord(
        source=NAME, image_id=rel, load=load, scale="auto", float_scale="amplitude",
        captions=[] if problem else captions.make_captions(scene, seed, f"{NAME}/{rel}"),
        caption_kinds=[] if problem else list(captions.KINDS), label=label,
        objects=[] if problem else [(label, CENTRE_BOX)], polarisation="HH", sensor="MSTAR X-band spotlight",
        problem=problem, problem_reason=report_lib.OUTSIDE_PROTOCOL if problem else "")


def _folder_facts(rel_parts: tuple[str, ...]) -> tuple[str | None, int | None, str, str]:
    """(class, depression, serial, split by test/train folder) read from a converted file's path."""
    label = next((c for c in map(canonical_class, reversed(rel_parts[:-1])) if c), None)
    depression = next((int(m.group(1)) for m in map(_DEG_FOLDER.match, rel_parts[:-1]) if m), None)
    serial = next((m.group(1) for m in map(_SN_FOLDER.match, rel_parts[:-1]) if m), "")
    default = "test" if any(p.lower() in ("test", "testing") for p in rel_parts) else "train"
    return label, depression, serial, default


def records(root: epath.Path, split: str, options: common.Options):
    for path in paths.walk_files(root):
        rel_parts = path.relative_to(root).parts
        if path.suffix.lower() in imagefolder.IMAGE_SUFFIXES:
            label, depression, serial, default = _folder_facts(rel_parts)
            load = path.read_bytes
        else:
            head = path.open("rb").read(256)
            if not is_phoenix(head):
                continue  # MSTAR CDs also hold .HDR/.MAG/.txt side files
            try:
                header = parse_header(path.read_bytes()[:8192])
            except PhoenixError:
                continue
            label = canonical_class(header.get("TargetType", ""))
            depression, serial, default = _depression(header.get("DesiredDepression", "")), \
                header.get("TargetSerNum", ""), "train"
            load = lambda p=path: _magnitude(p)  # noqa: E731
        if label is None:
            continue  # SLICY and other non-SOC targets
        chip_split, outside = soc_split(label, depression, serial, default)
        if outside and split == "train":  # reported once, under train
            yield _record(root, path, label, options.seed, load, problem=outside)
        elif chip_split == split:
            yield _record(root, path, label, options.seed, load)


def _depression(text: str) -> int | None:
    try:
        return round(float(text))
    except ValueError:
        return None


def _magnitude(path: epath.Path) -> np.ndarray:
    return read_phoenix(path.read_bytes())[1]
