"""Valid seed files and byte mutations shared by the fuzz tests (hypothesis strategies).

Seeds are made here, small (tens of pixels), one per format and pixel type the readers handle.
Mutations keep the format's magic bytes most of the time, so the decoders get past sniffing and
meet the damage inside the header or the pixel data.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from sarclip_jax.data import sar_readers


def _pil(array, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def tiff(array, **kw) -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="minisblack", **kw)
    return buf.getvalue()


def seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    rgb = rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)
    amp = rng.gamma(1.0, 1.0, (16, 20)).astype(np.float32)
    return {
        "png_l": _pil(grey, "PNG"),
        "png_rgb": _pil(rgb, "PNG"),
        "png_16": sar_readers.encode_png(rng.integers(0, 65536, (16, 16), dtype=np.uint16)),
        "png_palette": _palette(rgb),
        "jpeg_l": _pil(grey, "JPEG", quality=90),
        "jpeg_rgb": _pil(rgb, "JPEG", quality=80, progressive=True),
        "tiff_f32": tiff(amp),
        "tiff_u16": tiff(rng.integers(0, 65536, (12, 14), dtype=np.uint16)),
        "tiff_c64": tiff((amp + 1j * amp[::-1]).astype(np.complex64)),
        "tiff_2band": tiff(np.stack([amp, amp * 2], -1), planarconfig="contig"),
        "tiff_zlib": tiff(np.tile(amp, (4, 4)), compression="zlib"),
        "tiff_tiled": tiff(np.tile(amp, (2, 2)), tile=(16, 16)),
    }


def _palette(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(buf, format="PNG")
    return buf.getvalue()


def fix_png_crcs(data: bytes) -> bytes:
    """Recomputes every chunk CRC, so a mutated header reaches PIL's parser instead of its CRC check."""
    out, pos = bytearray(data), 8
    while pos + 12 <= len(out):
        length = struct.unpack(">I", out[pos:pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end:end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4:end])))
        pos = end + 4
    return bytes(out)


EXTREMES = (0, 1, 2, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


@st.composite
def mutated(draw, seed_files: dict[str, bytes]) -> tuple[str, bytes]:
    """(seed name, mutated bytes): one to four truncations, bit flips, overwrites, insertions or
    extreme header fields; header bytes (first 160) are hit half the time."""
    name = draw(st.sampled_from(sorted(seed_files)))
    data = bytearray(seed_files[name])
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        if n < 10:
            break
        header = draw(st.booleans())
        pos = draw(st.integers(4, min(n - 1, 160) if header else n - 1))
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "field"]))
        if kind == "truncate":
            del data[pos:]
        elif kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[pos:pos + len(chunk)] = chunk
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        else:
            fmt = draw(st.sampled_from([">H", "<H", ">I", "<I"]))
            value = draw(st.sampled_from(EXTREMES)) & (0xFFFF if fmt.endswith("H") else 0xFFFFFFFF)
            field = struct.pack(fmt, value)
            data[pos:pos + len(field)] = field
    out = bytes(data)
    if name.startswith("png") and draw(st.booleans()):
        out = fix_png_crcs(out)
    return name, out


def random_image_bytes():
    """Random bytes behind each format's magic (or none)."""
    magic = st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"II+\x00",
                             b"\x93NUMPY"])
    return st.tuples(magic, st.binary(max_size=300)).map(lambda t: t[0] + t[1])
