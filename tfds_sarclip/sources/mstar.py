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

import re

import numpy as np
from etils import epath

from tfds_sarclip import captions, features, imagefolder
from sarclip_jax.data.formats import paths

NAME = "mstar"
CLASSES = ("2S1", "BMP2", "BRDM2", "BTR60", "BTR70", "D7", "T62", "T72", "ZIL131", "ZSU234")
NOUNS = {"2S1": ("2S1 self-propelled howitzer", "2S1 self-propelled howitzers"),
         "BMP2": ("BMP2 infantry fighting vehicle", "BMP2 infantry fighting vehicles"),
         "BRDM2": ("BRDM2 armoured scout car", "BRDM2 armoured scout cars"),
         "BTR60": ("BTR60 armoured personnel carrier", "BTR60 armoured personnel carriers"),
         "BTR70": ("BTR70 armoured personnel carrier", "BTR70 armoured personnel carriers"),
         "D7": ("D7 bulldozer", "D7 bulldozers"), "T62": ("T62 tank", "T62 tanks"), "T72": ("T72 tank", "T72 tanks"),
         "ZIL131": ("ZIL131 truck", "ZIL131 trucks"), "ZSU234": ("ZSU234 anti-aircraft gun", "ZSU234 anti-aircraft guns")}
HEADER_START = b"[PhoenixHeaderVer"
HEADER_END = b"[EndofPhoenixHeader]"
TEST_DEPRESSION = 15
# MSTAR chips centre the target; its extent is not annotated, so the box is nominal.
CENTRE_BOX = (0.35, 0.35, 0.65, 0.65)


class PhoenixError(ValueError):
    pass


def canonical_class(name: str) -> str | None:
    """'t72_tank', 'ZSU_23_4', 'zsu23-4_gun', 'BTR_60' -> 'T72', 'ZSU234', 'ZSU234', 'BTR60'."""
    key = re.sub(r"[^A-Z0-9]", "", name.upper())
    for suffix in ("TANK", "GUN", "TRUCK", "TRANSPORT", "BULLDOZER"):
        if key.endswith(suffix) and key[:-len(suffix)] in CLASSES:
            return key[:-len(suffix)]
    return key if key in CLASSES else None


def is_phoenix(data: bytes) -> bool:
    return HEADER_START in data[:256]


def parse_header(data: bytes) -> dict[str, str]:
    start = data.find(HEADER_START)
    end = data.find(HEADER_END)
    if start < 0 or end < 0:
        raise PhoenixError("no Phoenix header")
    header = {}
    for line in data[start:end].decode("ascii", errors="replace").splitlines()[1:]:
        if "=" in line:
            key, value = line.split("=", 1)
            header[key.strip()] = value.strip()
    return header


def read_phoenix(data: bytes) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """(header, magnitude, phase) of a raw MSTAR chip, as float32 (rows, cols) arrays."""
    header = parse_header(data)
    try:
        rows, cols = int(header["NumberOfRows"]), int(header["NumberOfColumns"])
        offset = int(header["PhoenixHeaderLength"]) + int(header.get("native_header_length", "0"))
    except (KeyError, ValueError) as e:
        raise PhoenixError(f"Phoenix header lacks a size field: {e}") from e
    n = rows * cols
    if rows <= 0 or cols <= 0 or len(data) < offset + 8 * n:
        raise PhoenixError(f"truncated chip: {len(data)} bytes, need {offset + 8 * n} for {rows}x{cols}")
    values = np.frombuffer(data, dtype=">f4", count=2 * n, offset=offset).astype(np.float32)
    return header, values[:n].reshape(rows, cols), values[n:].reshape(rows, cols)


def write_phoenix(header: dict[str, str], magnitude: np.ndarray, phase: np.ndarray) -> bytes:
    """The inverse of read_phoenix (for fixtures): header lengths are filled in here."""
    rows, cols = magnitude.shape
    body = {k: v for k, v in header.items() if k not in ("PhoenixHeaderLength", "native_header_length")}
    body.update(NumberOfRows=str(rows), NumberOfColumns=str(cols), native_header_length="0")

    def render(length):
        lines = [f"{k}= {v}" for k, v in body.items()] + [f"PhoenixHeaderLength= {length:06d}"]
        return ("\n[PhoenixHeaderVer01.04]\n" + "\n".join(lines) + "\n[EndofPhoenixHeader]\n").encode("ascii")

    text = render(0)
    text = render(len(text))
    data = np.concatenate([magnitude.ravel(), phase.ravel()]).astype(">f4").tobytes()
    return text + data


def load_any(path: epath.Path) -> bytes | np.ndarray:
    """A raw chip's magnitude (float32 amplitude), or any other file's bytes."""
    data = epath.Path(path).read_bytes()
    if is_phoenix(data):
        return read_phoenix(data)[1]
    return data


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


def records(root: epath.Path, split: str, seed: int):
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
