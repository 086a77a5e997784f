"""MSTAR raw chips (the SDMS CDs' Phoenix format) and the ten SOC target classes.

A raw chip (MSTAR_PUBLIC_MIXED_TARGETS_CD1/2, MSTAR_PUBLIC_TARGETS_CHIPS_T72_BMP2_BTR70_SLICY,
files named HB*.0xx) is an ASCII Phoenix header ("[PhoenixHeaderVer01.0x]" ...
"[EndofPhoenixHeader]", one `key = value` per line) after a first short line, then, at byte
PhoenixHeaderLength + native_header_length, the magnitude image (NumberOfRows x NumberOfColumns
big-endian float32) followed by the phase image. Read by the TFDS builders and by the evaluators
and the load-and-encode API alike (a raw chip is a valid input file everywhere).
"""

from __future__ import annotations

import re

import numpy as np
from etils import epath

# The ten SOC target classes, as their folder names (the zero-shot protocol's class names).
CLASSES = ("2S1", "BMP2", "BRDM2", "BTR60", "BTR70", "D7", "T62", "T72", "ZIL131", "ZSU234")
HEADER_START = b"[PhoenixHeaderVer"
HEADER_END = b"[EndofPhoenixHeader]"


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
    sig_size = _int_or_none(header.get("PhoenixSigSize"))
    if sig_size is not None and rows > 0 and cols > 0 and sig_size == offset + 4 * n:
        # torchcvnn anticipates chips of 2-byte samples; their scaling is undocumented, so refuse
        # them by name rather than read garbage as float32.
        raise PhoenixError(f"PhoenixSigSize {sig_size} means 2-byte samples, which this reader does not decode")
    if rows <= 0 or cols <= 0 or len(data) < offset + 8 * n:
        raise PhoenixError(f"truncated chip: {len(data)} bytes, need {offset + 8 * n} for {rows}x{cols}")
    values = np.frombuffer(data, dtype=">f4", count=2 * n, offset=offset).astype(np.float32)
    return header, values[:n].reshape(rows, cols), values[n:].reshape(rows, cols)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def write_phoenix(header: dict[str, str], magnitude: np.ndarray, phase: np.ndarray) -> bytes:
    """The inverse of read_phoenix (for fixtures): the lengths (PhoenixHeaderLength, PhoenixSigSize,
    the whole file as in the real chips) are filled in here."""
    rows, cols = magnitude.shape
    body = {k: v for k, v in header.items() if k not in ("PhoenixHeaderLength", "native_header_length",
                                                         "PhoenixSigSize")}
    body.update(NumberOfRows=str(rows), NumberOfColumns=str(cols), native_header_length="0")

    def render(length):
        lines = ([f"PhoenixSigSize= {length + 8 * rows * cols:08d}"] + [f"{k}= {v}" for k, v in body.items()]
                 + [f"PhoenixHeaderLength= {length:06d}"])
        return ("\n[PhoenixHeaderVer01.04]\n" + "\n".join(lines) + "\n[EndofPhoenixHeader]\n").encode("ascii")

    text = render(0)
    text = render(len(text))  # fixed-width numbers: the length does not change
    data = np.concatenate([magnitude.ravel(), phase.ravel()]).astype(">f4").tobytes()
    return text + data


def load_any(path: epath.Path) -> bytes | np.ndarray:
    """A raw chip's magnitude (float32 amplitude), or any other file's bytes."""
    data = epath.Path(path).read_bytes()
    if is_phoenix(data):
        return read_phoenix(data)[1]
    return data
