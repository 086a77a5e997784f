"""Reading and writing SAR image files and bytes, keeping their native dtype.

8-bit PNG/JPEG through PIL; 16-bit, float and complex (SLC) TIFF/GeoTIFF through `tifffile`
(LZW-compressed GeoTIFFs also need the `imagecodecs` package). Every reader returns (H, W) or
(H, W, C) in the file's own dtype: radiometric decisions belong to `sar_radiometry`.

Stored records use the same encoders: PNG for integer images (lossless, 8 or 16 bit) and TIFF
(zlib-compressed where that pays) for float and complex ones, so one decoder serves source files
and records.
"""

from __future__ import annotations

import io

import numpy as np
from etils import epath

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_NPY = b"\x93NUMPY"


class ImageDecodeError(ValueError):
    """An image that cannot be decoded; the message names the file or record."""


def sniff_format(data: bytes) -> str:
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_JPEG):
        return "jpeg"
    if data[:4] in _TIFF:
        return "tiff"
    if data.startswith(_NPY):
        return "npy"
    return "unknown"


def _hwc_from_axes(array: np.ndarray, axes: str) -> np.ndarray:
    """Puts tifffile's Y and X axes first and any band-like axes (S, C, I, Q, P) last."""
    if "Y" not in axes or "X" not in axes:
        raise ImageDecodeError(f"TIFF series has no Y/X axes (axes={axes!r})")
    others = [i for i, a in enumerate(axes) if a not in "YX"]
    out = np.transpose(array, [axes.index("Y"), axes.index("X"), *others])
    if out.ndim > 3:  # several non-spatial axes (e.g. pages x samples): flatten into bands
        out = out.reshape(out.shape[0], out.shape[1], -1)
    if out.ndim == 3 and out.shape[-1] == 1:
        out = out[..., 0]
    return out


def _decode_tiff(data: bytes) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            return _hwc_from_axes(series.asarray(), series.axes)
    except KeyError as e:  # tifffile reports a missing codec this way
        raise ImageDecodeError(f"TIFF codec unavailable ({e}); LZW/JPEG-compressed TIFFs need `pip install "
                               "imagecodecs`") from e


def _decode_pil(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode == "P":  # palette images: their palette indices are not radiometry
            im = im.convert("RGB")
        if im.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(im, dtype=np.uint16)
        if im.mode == "LA":
            im = im.convert("L")
        if im.mode == "RGBA":
            im = im.convert("RGB")
        return np.asarray(im)


def decode_image_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes PNG, JPEG, TIFF or NPY bytes into an (H, W[, C]) array of the stored dtype."""
    fmt = sniff_format(data[:8])
    try:
        if fmt in ("png", "jpeg"):
            out = _decode_pil(data)
        elif fmt == "tiff":
            out = _decode_tiff(data)
        elif fmt == "npy":
            out = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            raise ImageDecodeError("not a PNG, JPEG, TIFF or NPY image")
    except ImageDecodeError as e:
        raise ImageDecodeError(f"{name}: {e}") from e
    except Exception as e:  # truncated or corrupt files raise many types from the codecs
        raise ImageDecodeError(f"{name}: cannot decode {fmt} image ({type(e).__name__}: {e})") from e
    if out.ndim not in (2, 3) or 0 in out.shape:
        raise ImageDecodeError(f"{name}: decoded to an unusable shape {out.shape}")
    return out


def read_image(path: str | epath.PathLike) -> np.ndarray:
    path = epath.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ImageDecodeError(f"{path}: file not found") from e
    return decode_image_bytes(data, str(path))


# --- encoders for stored records ----------------------------------------------------------------

def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 (1 or 3 bands) or uint16 (1 band) image."""
    from PIL import Image

    x = np.asarray(image)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.dtype == np.uint8 and (x.ndim == 2 or x.shape[-1] in (3, 4)):
        im = Image.fromarray(x)
    elif x.dtype == np.uint16 and x.ndim == 2:
        im = Image.fromarray(x)  # mode I;16
    else:
        raise ValueError(f"PNG holds uint8 with 1/3/4 bands or single-band uint16, got {x.dtype} {x.shape}")
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


# zlib must save at least this share of the bytes to be kept: speckled float data barely
# compresses (about 10%), and inflating it costs several times the read of a raw TIFF.
MIN_ZLIB_SAVING = 0.25


def encode_tiff(image: np.ndarray) -> bytes:
    """TIFF, bands contiguous (H, W, C); any dtype tifffile supports, complex included. zlib
    compression is used only where it pays (see MIN_ZLIB_SAVING)."""
    import tifffile

    x = np.asarray(image)
    kwargs = {"photometric": "minisblack"}
    if x.ndim == 3:
        kwargs["planarconfig"] = "contig"
    raw, packed = io.BytesIO(), io.BytesIO()
    tifffile.imwrite(raw, x, **kwargs)
    tifffile.imwrite(packed, x, compression="zlib", **kwargs)
    raw, packed = raw.getvalue(), packed.getvalue()
    return packed if len(packed) <= (1.0 - MIN_ZLIB_SAVING) * len(raw) else raw


def encode_lossless(image: np.ndarray) -> tuple[bytes, str]:
    """(bytes, format): PNG where it can hold the image exactly, else TIFF."""
    x = np.asarray(image)
    squeezed = x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x
    if (x.dtype == np.uint8 and (squeezed.ndim == 2 or squeezed.shape[-1] in (3, 4))) or (
            x.dtype == np.uint16 and squeezed.ndim == 2):
        return encode_png(x), "png"
    return encode_tiff(x), "tiff"
