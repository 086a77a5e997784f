"""CLIP image preprocessing: the numbers of OpenAI CLIP / OpenCLIP's validation transform.

    from sarclip_jax.data.preprocess import ClipPreprocess
    preprocess = ClipPreprocess(image_size=224)
    x = preprocess("chip.png")                    # float32 (224, 224, 3), HWC as JAX wants
    batch = preprocess.batch(["a.png", "b.jpg"])  # float32 (2, 224, 224, 3), NHWC

Steps, in the reference's order: resize the shorter side to `image_size` with PIL bicubic (the
longer side's length truncated, not rounded), centre crop (offsets rounded half to even, as
Python's `round`), convert to RGB (after resizing, so RGBA is resized with PIL's premultiplied
alpha and palette images with nearest neighbour, as in the reference), divide by 255, subtract
the mean and divide by the standard deviation in float32. EXIF orientation is ignored, as in
the reference.

Inputs: a file path (local or gs://), a PIL image, or a uint8 array (H, W), (H, W, 1), (H, W, 3)
or (H, W, 4). 16-bit and float images are refused: SAR data must be mapped to 8 bits first
(`sarclip_jax.data.sar_radiometry`), since CLIP's preprocessing would clip them silently.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import PIL.Image
from etils import epath

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

ImageSource = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the shorter side = size; the longer side is truncated."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centred size x size square."""
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


def _describe(source: ImageSource) -> str:
    return f"image {os.fspath(source)}" if isinstance(source, (str, os.PathLike)) else "image"


def load_image(source: ImageSource) -> PIL.Image.Image:
    """A path, PIL image or uint8 array -> PIL image (mode unchanged)."""
    if isinstance(source, PIL.Image.Image):
        image = source
    elif isinstance(source, (str, os.PathLike)):
        path = epath.Path(source)
        try:
            with path.open("rb") as f:
                image = PIL.Image.open(f)
                image.load()  # PIL reads lazily; read now, while the file is open
        except FileNotFoundError:
            raise FileNotFoundError(f"image {path} does not exist") from None
        except (OSError, ValueError, PIL.Image.DecompressionBombError) as e:
            raise ValueError(f"cannot read image {path}: {e}") from None
    elif isinstance(source, np.ndarray):
        image = _array_to_image(source)
    else:
        raise TypeError(f"an image is a path, a PIL image or a uint8 array, not {type(source).__name__}")
    if image.mode in _HIGH_DEPTH_MODES:
        raise ValueError(f"{_describe(source)} has PIL mode {image.mode!r} (16-bit or float); CLIP "
                         f"preprocessing wants 8-bit images: map the values to uint8 first")
    return image


def _array_to_image(array: np.ndarray) -> PIL.Image.Image:
    if array.dtype != np.uint8:
        raise ValueError(f"an image array must be uint8 (H, W[, C]), got {array.dtype}; map float or "
                         f"16-bit data (e.g. SAR dB or amplitude) to uint8 first")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return PIL.Image.fromarray(array, mode="L")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return PIL.Image.fromarray(np.ascontiguousarray(array), mode="RGB" if array.shape[2] == 3 else "RGBA")
    raise ValueError(f"an image array is (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {array.shape}")


def resize_and_crop(image: PIL.Image.Image, size: int) -> PIL.Image.Image:
    """Shorter side to `size` (bicubic), then the centred size x size square; RGB."""
    target = resized_size(*image.size, size)
    if target != image.size:  # the reference leaves an image of the right size untouched
        image = image.resize(target, PIL.Image.Resampling.BICUBIC)
    return image.crop(crop_box(*image.size, size)).convert("RGB")


def normalize(rgb: np.ndarray, mean: Sequence[float] = OPENAI_MEAN,
              std: Sequence[float] = OPENAI_STD) -> np.ndarray:
    """uint8 (..., 3) -> float32 (x / 255 - mean) / std, every step in float32 like the reference."""
    x = np.asarray(rgb).astype(np.float32) / np.float32(255)
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def preprocess_image(source: ImageSource, image_size: int = 224, mean: Sequence[float] = OPENAI_MEAN,
                     std: Sequence[float] = OPENAI_STD) -> np.ndarray:
    """One image -> float32 (image_size, image_size, 3)."""
    image = resize_and_crop(load_image(source), image_size)
    return normalize(np.asarray(image), mean, std)


def preprocess_batch(sources: Sequence[ImageSource], image_size: int = 224,
                     mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD) -> np.ndarray:
    """Images -> float32 (N, image_size, image_size, 3)."""
    out = np.empty((len(sources), image_size, image_size, 3), np.float32)
    for i, source in enumerate(sources):
        out[i] = preprocess_image(source, image_size, mean, std)
    return out


@dataclasses.dataclass(frozen=True)
class ClipPreprocess:
    """`preprocess(image)` -> float32 (S, S, 3); `preprocess.batch(images)` -> (N, S, S, 3)."""

    image_size: int = 224
    mean: tuple[float, ...] = OPENAI_MEAN
    std: tuple[float, ...] = OPENAI_STD

    def __post_init__(self):
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 1:
            raise ValueError(f"image_size must be a positive int, got {self.image_size!r}")
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ValueError(f"{name} needs 3 values (R, G, B), got {value}")
            object.__setattr__(self, name, value)
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")

    def __call__(self, source: ImageSource) -> np.ndarray:
        return preprocess_image(source, self.image_size, self.mean, self.std)

    def batch(self, sources: Sequence[ImageSource]) -> np.ndarray:
        return preprocess_batch(sources, self.image_size, self.mean, self.std)
