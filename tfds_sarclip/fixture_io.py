"""Writers for the fixture trees: deterministic speckled images in the codecs sources use."""

from __future__ import annotations

import io
import shutil

import numpy as np
from etils import epath
from PIL import Image

from sarclip_jax.data import sar_readers


def _rng(*key):
    return np.random.default_rng([7, *key])


def speckled(shape, seed, mean=0.1, looks=1.0):
    """Float32 intensity: a bright square on gamma speckle."""
    rng = _rng(seed)
    field = np.full(shape[:2], mean, np.float32)
    h, w = shape[:2]
    field[h // 3:2 * h // 3, w // 3:2 * w // 3] *= 20
    out = field[..., None] * rng.gamma(looks, 1 / looks, (*shape[:2], shape[2] if len(shape) == 3 else 1))
    return out[..., 0].astype(np.float32) if len(shape) == 2 else out.astype(np.float32)


def to_uint8(intensity):
    db = 10 * np.log10(np.maximum(intensity, 1e-10))
    return np.round(np.clip((db + 25) / 30, 0, 1) * 255).astype(np.uint8)


def png_bytes(array) -> bytes:
    return sar_readers.encode_png(array)


def jpeg_bytes(array, quality=90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def uniform(shape, seed, low=0.0, high=1.0):
    return _rng(seed).uniform(low, high, shape).astype(np.float32)


def tiff_bytes(array, planar_separate=False) -> bytes:
    import tifffile

    buf = io.BytesIO()
    if array.ndim == 3 and planar_separate:
        tifffile.imwrite(buf, np.moveaxis(array, -1, 0), planarconfig="separate", photometric="minisblack")
    elif array.ndim == 3:
        tifffile.imwrite(buf, array, photometric="minisblack", planarconfig="contig")
    else:
        tifffile.imwrite(buf, array, photometric="minisblack")
    return buf.getvalue()


def mat_bytes(variables: dict) -> bytes:
    """A MATLAB 5 .mat file; scipy writes the creation time into the 116-byte text header, which is
    replaced by a fixed text so that rebuilt fixtures are byte-identical."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    data = buf.getvalue()
    return b"MATLAB 5.0 MAT-file, written by tfds_sarclip.fixture_io".ljust(116) + data[116:]


def bmp_bytes(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="BMP")
    return buf.getvalue()


def packbits_tiff_bytes(array) -> bytes:
    """An 8-bit PackBits TIFF (tifffile needs imagecodecs to encode PackBits; PIL does not)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="TIFF", compression="packbits")
    return buf.getvalue()


def matlab_tiff_bytes(array) -> bytes:
    """float32 TIFF as OpenSARShip's MATLAB writer leaves it: samples contiguous, one strip,
    uncompressed, minisblack, Software 'MATLAB', no GeoTIFF keys."""
    import tifffile

    array = np.asarray(array, np.float32)
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="minisblack", planarconfig="contig" if array.ndim == 3 else None,
                     rowsperstrip=array.shape[0], software="MATLAB", metadata=None)
    return buf.getvalue()


def write(path: epath.Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def fresh(path: epath.Path) -> epath.Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --- sarclip1m/release ----------------------------------------------------------------------------
