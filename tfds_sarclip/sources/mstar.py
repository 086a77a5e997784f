"""MSTAR: 10 ground-vehicle classes, as raw Phoenix chips or as JPEG/PNG class folders.

Raw chips (the SDMS CDs, e.g. MSTAR_PUBLIC_MIXED_TARGETS_CD1/2 and
MSTAR_PUBLIC_TARGETS_CHIPS_T72_BMP2_BTR70_SLICY, files named HB*.0xx): an ASCII Phoenix header
("[PhoenixHeaderVer01.0x]" ... "[EndofPhoenixHeader]", one `key = value` per line) after a first
short line, then at byte PhoenixHeaderLength + native_header_length the magnitude image
(NumberOfRows x NumberOfColumns big-endian float32) followed by the phase image. Class comes from
the header's TargetType (e.g. "t72_tank", "zsu23-4_gun"), split from DesiredDepression: the SOC
protocol trains at 17 degrees and tests at 15, so 15-degree chips go to test and the rest to
train. The magnitude is stored as float32 amplitude; the phase is dropped.

Converted class folders (what the MSTAR public tools' JPEG export and most users hold), e.g.
TRAIN/17_DEG/BRDM_2/HB14931.JPG and TEST/15_DEG/...: the class is the folder whose name matches
one of the 10 classes; a path through "15_DEG" or a "test" folder is test, anything else train.
These layouts are documented by public loaders (torchcvnn's MSTAR reader; several MSTAR-10
repositories), not by an official specification.
"""

from __future__ import annotations

import numpy as np
from etils import epath

from sarclip_jax.data.formats import imagefolder, paths
from sarclip_jax.data.formats.mstar import PhoenixError, canonical_class, is_phoenix, parse_header, read_phoenix
from sarclip_jax.text import prompts
from tfds_sarclip import captions, features
from tfds_sarclip.sources import common

NAME = "mstar"
NOUNS = prompts.caption_nouns(prompts.MSTAR_CLASSES)
TEST_DEPRESSION = 15
# MSTAR chips centre the target; its extent is not annotated, so the box is nominal.
CENTRE_BOX = (0.35, 0.35, 0.65, 0.65)


def find(manual_dir: epath.Path) -> epath.Path | None:
    for p in sorted(manual_dir.iterdir(), key=str):
        if p.is_dir() and p.name.lower().startswith("mstar"):
            return p
    return None


def _split_of_path(rel_parts: tuple[str, ...]) -> str:
    lowered = [p.lower() for p in rel_parts]
    if any(p.startswith("15_deg") or p in ("test", "testing") for p in lowered):
        return "test"
    return "train"


def _record(root, path, label, split, seed, load):
    rel = str(path.relative_to(root))
    scene = captions.Scene(objects=[(label, CENTRE_BOX)], background="", nouns=NOUNS)
    return features.RawRecord(
        source=NAME, image_id=rel, load=load, scale="auto", float_scale="amplitude",
        captions=captions.make_captions(scene, seed, f"{NAME}/{rel}"), label=label,
        objects=[(label, CENTRE_BOX)], polarisation="HH", sensor="MSTAR X-band spotlight")


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    for path in paths.walk_files(root):
        rel_parts = path.relative_to(root).parts
        if path.suffix.lower() in imagefolder.IMAGE_SUFFIXES:
            label = next((c for c in map(canonical_class, reversed(rel_parts[:-1])) if c), None)
            if label is None or _split_of_path(rel_parts) != split:
                continue
            yield _record(root, path, label, split, seed, path.read_bytes)
            continue
        head = path.open("rb").read(256)
        if not is_phoenix(head):
            continue  # MSTAR CDs also hold .HDR/.MAG/.txt side files
        try:
            header = parse_header(path.read_bytes()[:8192])
        except PhoenixError:
            continue
        label = canonical_class(header.get("TargetType", ""))
        if label is None:
            continue  # SLICY and other non-SOC targets
        depression = header.get("DesiredDepression", "")
        chip_split = "test" if _depression(depression) == TEST_DEPRESSION else "train"
        if chip_split == split:
            yield _record(root, path, label, split, seed, lambda p=path: _magnitude(p))


def _depression(text: str) -> int | None:
    try:
        return round(float(text))
    except ValueError:
        return None


def _magnitude(path: epath.Path) -> np.ndarray:
    return read_phoenix(path.read_bytes())[1]
