"""Speckle-aware training augmentations (pure numpy; every random draw comes from the caller's rng).

Speckle is multiplicative: fully developed L-look speckle multiplies intensity by a Gamma(L, 1/L)
variable (mean 1, variance 1/L). It is applied to linear intensity, never to dB or display
values; for display products (whose mapping is unknown) the unit image is treated as amplitude
and multiplied by the square root of the same field.

Geometric augmentations are off by default: flips and rotations change what "upper left" or
"to the left of" mean, and crops can cut counted targets, so they would contradict the captions
of SARCLIP-1M's counting and region kinds. Turn them on for caption sets without such words.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Augment:
    """speckle_prob: chance of adding speckle; its number of looks is drawn log-uniformly in
    `speckle_looks`. dihedral: random 90-degree rotation and flip. crop_scale/crop_ratio: random
    resized crop (area fraction and aspect ratio); (1, 1) turns it off."""

    speckle_prob: float = 0.5
    speckle_looks: tuple[float, float] = (2.0, 16.0)
    dihedral: bool = False
    crop_scale: tuple[float, float] = (1.0, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __post_init__(self):
        if not 0.0 <= self.speckle_prob <= 1.0:
            raise ValueError(f"augment speckle_prob must be in [0, 1], got {self.speckle_prob}")
        lo, hi = self.speckle_looks
        if not 0 < lo <= hi:
            raise ValueError(f"augment speckle_looks must satisfy 0 < lo <= hi, got {self.speckle_looks}")
        slo, shi = self.crop_scale
        if not 0 < slo <= shi <= 1:
            raise ValueError(f"augment crop_scale must satisfy 0 < lo <= hi <= 1, got {self.crop_scale}")
        rlo, rhi = self.crop_ratio
        if not 0 < rlo <= rhi:
            raise ValueError(f"augment crop_ratio must satisfy 0 < lo <= hi, got {self.crop_ratio}")

    @property
    def crops(self) -> bool:
        return self.crop_scale != (1.0, 1.0)


def gamma_speckle(shape: tuple[int, ...], looks: float, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative L-look intensity speckle field: Gamma(shape=L, scale=1/L), mean 1."""
    if looks <= 0:
        raise ValueError(f"number of looks must be positive, got {looks}")
    field = rng.standard_gamma(looks, size=shape, dtype=np.float32)  # float32 draws: faster, ample precision
    field *= np.float32(1.0 / looks)
    return field


def speckle_intensity(intensity: np.ndarray, looks: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplies linear intensity by independent L-look speckle (same field on every band would
    fake a perfect inter-channel correlation; independent fields are the conservative choice)."""
    x = np.asarray(intensity, np.float32)
    return (x * gamma_speckle(x.shape, looks, rng)).astype(np.float32)


def speckle_unit(unit: np.ndarray, looks: float, rng: np.random.Generator) -> np.ndarray:
    """Speckle for a [0, 1] display image treated as amplitude; clipped back to [0, 1]."""
    x = np.asarray(unit, np.float32)
    return np.clip(x * np.sqrt(gamma_speckle(x.shape, looks, rng)), 0.0, 1.0).astype(np.float32)


def draw_looks(cfg: Augment, rng: np.random.Generator) -> float | None:
    """None (no speckle) with probability 1 - speckle_prob, else log-uniform looks."""
    if rng.random() >= cfg.speckle_prob:
        return None
    lo, hi = cfg.speckle_looks
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def dihedral(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """k quarter turns counter-clockwise, then an optional left-right flip, of an (H, W[, C]) array."""
    out = np.rot90(x, k=k, axes=(0, 1))
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def random_dihedral(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return dihedral(x, int(rng.integers(4)), bool(rng.integers(2)))


def random_crop_box(height: int, width: int, rng: np.random.Generator, scale: tuple[float, float],
                    ratio: tuple[float, float], attempts: int = 10) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a crop with area fraction in `scale` and aspect w/h in `ratio`
    (log-uniform); falls back to the largest centred crop within `ratio`."""
    area = height * width
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_r))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def crop(x: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    top, left, h, w = box
    return x[top:top + h, left:left + w]
