"""Reading and writing SAR image files and bytes, keeping their native dtype.

8-bit PNG/JPEG through PIL; 16-bit, float and complex (SLC) TIFF/GeoTIFF through `tifffile`
(LZW-compressed GeoTIFFs also need the `imagecodecs` package). Every reader returns (H, W) or
(H, W, C) in the file's own dtype: radiometric decisions belong to `sar_radiometry`.

Stored records use the same encoders: PNG for integer images (lossless, 8 or 16 bit) and TIFF
(zlib-compressed where that pays) for float and complex ones, so one decoder serves source files
and records.

Untrusted bytes: every failure is an `ImageDecodeError` naming the file or record. The size a
header claims is checked before any pixel buffer is allocated (`MAX_IMAGE_PIXELS`,
`MAX_IMAGE_BYTES`), and TIFF deflate data may not inflate past it, so a corrupt or hostile file
cannot exhaust memory; a TIFF directory chain that loops is refused instead of walked forever.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from etils import epath

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_NPY = b"\x93NUMPY"
_BMP = b"BM"  # SARDet-100K merges sources, some of which ship Windows bitmaps


# Largest image accepted, checked from the header before decoding. 2**26 pixels is 8192 x 8192:
# SAR chips and SARCLIP-1M images are far smaller, and the model sees 224 px. PIL's own guard
# (Image.MAX_IMAGE_PIXELS, about 89M, an error only at twice that) does not cover tifffile or NPY.
MAX_IMAGE_PIXELS = 2**26
# Largest decoded array (all bands and pages): bounds multi-band, multi-page and complex files.
MAX_IMAGE_BYTES = 2**30
# Pages (image directories) a TIFF may hold; SAR products store bands as samples or a few pages.
MAX_TIFF_PAGES = 256
# zlib inflates at most about 1032:1, so a deflate segment up to 64 KiB cannot pass ~64 MiB; a
# larger one is first inflated with a bound, because tifffile inflates without one (a 1 MB file
# declaring 16 x 16 pixels can hold a stream that inflates to 1 GB).
_ZLIB_MAX_RATIO = 1032
_UNBOUNDED_INFLATE_BYTES = 64 * 2**20
_DEFLATE = (8, 32946)  # TIFF compression codes for Deflate / Adobe Deflate
# Decoded dtypes the radiometry understands; bool (1-bit), strings, objects and records are refused.
_DTYPE_KINDS = "uifc"


class ImageDecodeError(ValueError):
    """An image that cannot be decoded; the message names the file or record."""


class ImageTooLargeError(ImageDecodeError):
    """An image whose header claims more pixels or bytes than the limits above."""


def check_size(shape, itemsize: int, name: str) -> None:
    """Refuses (before allocation) an image of `shape` (rows and columns first) over the limits."""
    shape = tuple(int(n) for n in shape)
    pixels = shape[0] * shape[1] if len(shape) >= 2 else (shape[0] if shape else 1)
    nbytes = int(np.prod(shape, dtype=object)) * int(itemsize)
    if pixels > MAX_IMAGE_PIXELS or nbytes > MAX_IMAGE_BYTES:
        dims = " x ".join(str(n) for n in shape)
        raise ImageTooLargeError(f"{name}: image claims {dims} ({pixels} pixels, {nbytes} bytes decoded); the "
                                 f"limits are {MAX_IMAGE_PIXELS} pixels and {MAX_IMAGE_BYTES} bytes")


def sniff_format(data: bytes) -> str:
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_JPEG):
        return "jpeg"
    if data[:4] in _TIFF:
        return "tiff"
    if data.startswith(_NPY):
        return "npy"
    if data.startswith(_BMP):
        return "bmp"
    return "unknown"


def _hwc_from_axes(array: np.ndarray, axes: str) -> np.ndarray:
    """Puts tifffile's Y and X axes first (the caller checked both exist) and any band-like axes
    (S, C, I, Q, P) last."""
    others = [i for i, a in enumerate(axes) if a not in "YX"]
    out = np.transpose(array, [axes.index("Y"), axes.index("X"), *others])
    if out.ndim > 3:  # several non-spatial axes (e.g. pages x samples): flatten into bands
        out = out.reshape(out.shape[0], out.shape[1], -1)
    if out.ndim == 3 and out.shape[-1] == 1:
        out = out[..., 0]
    return out


def _check_ifd_chain(data: bytes) -> None:
    """Follows the TIFF's chain of image directories (IFDs): a chain that loops back, or longer
    than MAX_TIFF_PAGES, is refused. tifffile iterating the pages of a looped chain lazily (as
    its `series` does) never stops: its loop check only runs while indexing all pages at once."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    offset_fmt, count_fmt, entry = (order + "Q", order + "Q", 20) if big else (order + "I", order + "H", 12)
    offset_size, count_size = struct.calcsize(offset_fmt), struct.calcsize(count_fmt)
    offset = struct.unpack_from(offset_fmt, data, 8 if big else 4)[0] if len(data) >= 16 else 0
    seen: set[int] = set()
    while 0 < offset and offset + count_size <= len(data):
        if offset in seen:
            raise ImageDecodeError(f"TIFF directory chain loops back to offset {offset}")
        seen.add(offset)
        if len(seen) > MAX_TIFF_PAGES:
            raise ImageDecodeError(f"TIFF has more than {MAX_TIFF_PAGES} pages")
        count = struct.unpack_from(count_fmt, data, offset)[0]
        next_at = offset + count_size + count * entry
        if next_at + offset_size > len(data):
            return  # a truncated directory: tifffile stops there too
        offset = struct.unpack_from(offset_fmt, data, next_at)[0]


def _check_deflate_segments(data: bytes, pages) -> None:
    """Refuses a deflate segment that inflates past its page's decoded size (a zlib bomb)."""
    view = memoryview(data)
    for page in pages:
        key = getattr(page, "keyframe", None) or page
        if int(key.compression) not in _DEFLATE:
            continue
        limit = int(key.nbytes)
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            if count * _ZLIB_MAX_RATIO <= max(limit, _UNBOUNDED_INFLATE_BYTES):
                continue
            try:
                inflated = zlib.decompressobj().decompress(view[offset:offset + count], limit + 1)
            except zlib.error:
                continue  # a damaged stream: tifffile's own decode reports it
            if len(inflated) > limit:
                raise ImageDecodeError(f"a deflate segment of {count} bytes inflates past its page's {limit} bytes")


def _decode_tiff(data: bytes, name: str) -> np.ndarray:
    import tifffile

    _check_ifd_chain(data)
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            axes = series.axes
            if "Y" not in axes or "X" not in axes:
                raise ImageDecodeError(f"TIFF series has no Y/X axes (axes={axes!r})")
            spatial = [series.shape[axes.index("Y")], series.shape[axes.index("X")]]
            rest = [n for n, a in zip(series.shape, axes) if a not in "YX"]
            check_size(spatial + rest, series.dtype.itemsize, name)
            _check_deflate_segments(data, series.pages)
            return _hwc_from_axes(series.asarray(), axes)
    except KeyError as e:  # tifffile reports a missing codec this way
        raise ImageDecodeError(f"TIFF codec unavailable ({e}); LZW/JPEG-compressed TIFFs need `pip install "
                               "imagecodecs`") from e


# PIL mode -> the mode kept: grey and colour 8-bit, 16-bit grey; alpha and palettes dropped.
_PIL_MODES = {"L": "L", "LA": "L", "La": "L", "P": "RGB", "PA": "RGB", "RGB": "RGB", "RGBA": "RGB",
              "RGBa": "RGB", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "I;16": "I;16", "I;16B": "I;16",
              "I;16L": "I;16"}


def _decode_pil(data: bytes, fmt: str, name: str) -> np.ndarray:
    from PIL import BmpImagePlugin, JpegImagePlugin, PngImagePlugin

    # The format's own class parses the header only; Image.open would add PIL's global bomb check,
    # whose message lacks the dimensions and whose threshold is not ours.
    opener = {"png": PngImagePlugin.PngImageFile, "jpeg": JpegImagePlugin.JpegImageFile,
              "bmp": BmpImagePlugin.BmpImageFile}[fmt]
    with opener(io.BytesIO(data)) as im:
        width, height = im.size
        check_size((height, width, len(im.getbands())), 2 if im.mode.startswith("I;16") else 1, name)
        if im.mode not in _PIL_MODES:
            raise ImageDecodeError(f"unsupported {fmt} pixel mode {im.mode!r}")
        im.load()
        keep = _PIL_MODES[im.mode]
        if keep == "I;16":
            return np.asarray(im, dtype=np.uint16)
        return np.asarray(im if im.mode == keep else im.convert(keep))


def _decode_npy(data: bytes, name: str) -> np.ndarray:
    from numpy.lib import format as npy

    buf = io.BytesIO(data)
    version = npy.read_magic(buf)
    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    if version not in readers:
        raise ImageDecodeError(f"unsupported NPY version {version}")
    shape, _, dtype = readers[version](buf)
    if len(shape) in (2, 3):
        check_size(shape, dtype.itemsize, name)
    return np.load(io.BytesIO(data), allow_pickle=False)


def decode_image_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes PNG, JPEG, BMP, TIFF or NPY bytes into an (H, W[, C]) array of the stored dtype."""
    fmt = sniff_format(data[:8])
    try:
        if fmt in ("png", "jpeg", "bmp"):
            out = _decode_pil(data, fmt, name)
        elif fmt == "tiff":
            out = _decode_tiff(data, name)
        elif fmt == "npy":
            out = _decode_npy(data, name)
        else:
            raise ImageDecodeError("not a PNG, JPEG, BMP, TIFF or NPY image")
    except ImageTooLargeError:
        raise
    except ImageDecodeError as e:
        raise ImageDecodeError(f"{name}: {e}") from e
    except Exception as e:  # truncated or corrupt files raise many types from the codecs
        raise ImageDecodeError(f"{name}: cannot decode {fmt} image ({type(e).__name__}: {e})") from e
    if out.ndim not in (2, 3) or 0 in out.shape:
        raise ImageDecodeError(f"{name}: decoded to an unusable shape {out.shape}")
    if out.dtype.kind not in _DTYPE_KINDS:
        raise ImageDecodeError(f"{name}: unsupported pixel type {out.dtype}")
    return out


def read_image(path: str | epath.PathLike) -> np.ndarray:
    path = epath.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ImageDecodeError(f"{path}: file not found") from e
    except OSError as e:  # a folder, no permission, an I/O error
        raise ImageDecodeError(f"{path}: cannot read ({type(e).__name__}: {e})") from e
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
