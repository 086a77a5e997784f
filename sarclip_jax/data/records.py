"""The stored record: one definition of its image fields, written by the builders and read by the
pipelines, the evaluators and the load-and-encode API.

An image is kept as encoded bytes in its native radiometry: integer images as the source's own
PNG/JPEG bytes when that is what it holds, otherwise lossless PNG (uint8/uint16) or TIFF (float32,
complex64, multi-band). `scale` says what the pixel values are; nothing downstream guesses it.

    record = file_record(path, float_scale="amplitude", key="T72/HB03333.015")   # any image file
    pixels, scale = decode_image(record)                                           # stored dtype
"""

from __future__ import annotations

from typing import Any

import numpy as np
from etils import epath

from sarclip_jax.data import sar_radiometry, sar_readers
from sarclip_jax.data.formats import mstar
from sarclip_jax.data.formats.caption_csv import UNKNOWN_KIND

# What float pixels can be: the data cannot tell, so a dataset (or the caller) must say.
FLOAT_SCALES = ("intensity", "amplitude", "db")

# The image fields of every stored record, with what they hold.
IMAGE_FIELDS: dict[str, str] = {
    "image": "encoded PNG/JPEG/TIFF bytes",
    "image_format": "png | jpeg | tiff",
    "image_dtype": "numpy dtype of the decoded pixels",
    "height": "rows",
    "width": "columns",
    "bands": "bands per pixel (1, 2 for VV,VH, 3 for RGB display products)",
    "scale": "intensity | amplitude | db | complex | display",
    "polarisation": "comma-separated bands, e.g. 'VV,VH'; empty if unknown",
    "sensor": "sensor or product description",
    "source": "source dataset name",
    "image_id": "source-relative path or id",
}
TEXT_FIELDS = ("image_format", "image_dtype", "scale", "polarisation", "sensor", "source", "image_id")


def text_of(value: Any) -> str:
    """A text field as str (TFDS data sources return bytes)."""
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def infer_scale(dtype: np.dtype, float_scale: str) -> str:
    """The scale of pixels of `dtype`: integers are display products, complex is SLC, and float
    data is what the dataset says (`float_scale`)."""
    if np.issubdtype(dtype, np.integer):
        return "display"
    if np.issubdtype(dtype, np.complexfloating):
        return "complex"
    if float_scale not in FLOAT_SCALES:
        raise ValueError(f"float pixels need a float_scale in {FLOAT_SCALES}, got {float_scale!r}")
    return float_scale


def encode_image(array: np.ndarray, original: bytes | None = None) -> tuple[bytes, str]:
    """(bytes, format) to store `array`: the source's own PNG/JPEG bytes for 8/16-bit images (a
    re-encoded JPEG would change the pixels), lossless PNG/TIFF otherwise."""
    fmt = sar_readers.sniff_format(original[:8]) if original is not None else ""
    if fmt in ("png", "jpeg") and array.dtype in (np.uint8, np.uint16):
        return original, fmt
    return sar_readers.encode_lossless(array)


def image_record(array: np.ndarray, scale: str, *, original: bytes | None = None, image_id: str = "",
                 source: str = "", polarisation: str = "", sensor: str = "") -> dict[str, Any]:
    """The image fields of a record holding `array` (H, W[, bands])."""
    if scale not in sar_radiometry.SCALES:
        raise ValueError(f"{image_id or 'image'}: unknown scale {scale!r}; expected one of {sar_radiometry.SCALES}")
    if array.ndim not in (2, 3):
        raise ValueError(f"{image_id or 'image'}: shape {array.shape} is not (H, W) or (H, W, bands)")
    data, fmt = encode_image(array, original)
    return {"image": data, "image_format": fmt, "image_dtype": str(array.dtype), "height": int(array.shape[0]),
            "width": int(array.shape[1]), "bands": 1 if array.ndim == 2 else int(array.shape[-1]), "scale": scale,
            "polarisation": polarisation, "sensor": sensor, "source": source, "image_id": image_id}


def decode_image(record: dict) -> tuple[np.ndarray, str]:
    """(pixels in their stored dtype, scale) of a record."""
    image = sar_readers.decode_image_bytes(bytes(record["image"]), text_of(record.get("image_id", "<record>")))
    return image, text_of(record["scale"])


# UNKNOWN_KIND: the kind of a caption whose source does not say (release CSVs without a kind
# column, datasets built before kinds were stored); defined with the CSV reader, below this module.


def captions_of(record: dict) -> list[str]:
    return [text_of(c) for c in record.get("captions", [])]


def caption_kinds_of(record: dict) -> list[str]:
    """The kind of each caption ("general", "counting", "absolute", "relative", ...), parallel to
    captions_of(record); UNKNOWN_KIND where the record does not say."""
    n = len(record.get("captions", []))
    kinds = [text_of(k) for k in record.get("caption_kinds", [])]
    return kinds if len(kinds) == n else [UNKNOWN_KIND] * n


def object_labels_of(record: dict) -> list[str]:
    """The class of each annotated object (empty where the source has no boxes)."""
    objects = record.get("objects") or {}
    return [text_of(label) for label in objects.get("label", [])]


def file_record(path: epath.PathLike, float_scale: str = "amplitude", key: str | None = None) -> dict[str, Any]:
    """A record for an image file: PNG/JPEG bytes kept as they are (display products), TIFFs
    decoded once for their dtype, raw MSTAR chips (Phoenix header) turned into their float32
    magnitude (amplitude). `float_scale` is what float TIFF pixels are."""
    path = epath.Path(path)
    key = str(path) if key is None else key
    loaded = mstar.load_any(path)
    if isinstance(loaded, (bytes, bytearray)):
        data = bytes(loaded)
        if sar_readers.sniff_format(data[:8]) in ("png", "jpeg"):
            return {"image": data, "scale": "display", "image_id": key}
        pixels = sar_readers.decode_image_bytes(data, str(path))
        return {"image": data, "scale": infer_scale(pixels.dtype, float_scale), "image_id": key}
    return array_record(np.asarray(loaded), infer_scale(np.asarray(loaded).dtype, float_scale), key)


def array_record(pixels: np.ndarray, scale: str, key: str = "<array>") -> dict[str, Any]:
    """A record for pixels already in memory, whose scale the caller states."""
    return image_record(np.asarray(pixels), scale, image_id=key)
