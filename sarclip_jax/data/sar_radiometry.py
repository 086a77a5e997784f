"""SAR radiometry: pixel scales, band mapping and normalisation to a [0, 1] 3-channel image.

All functions are pure numpy. The caller always says which scale the data is in; nothing here
guesses it from the values, because power, amplitude and dB look alike to a heuristic and
mixing them silently is the classic SAR preprocessing bug.

Scales:
  "intensity"  linear power |z|^2 (sigma0, beta0, or covariance/coherency diagonal)
  "amplitude"  linear |z|
  "db"         10 log10(intensity)
  "complex"    single-look complex (SLC) samples z
  "display"    an already display-mapped product (8-bit PNG/JPEG, some 16-bit); its mapping to
               physical units is unknown, so it is only divided by the dtype's maximum

Config snippet (pipeline):

    radiometry = Radiometry(mode="db_window", db_range=(-25.0, 5.0))
    rgb = to_unit_rgb(image, scale="intensity", cfg=radiometry)   # float32 HxWx3 in [0, 1]
"""

from __future__ import annotations

import dataclasses

import numpy as np

SCALES = ("intensity", "amplitude", "db", "complex", "display")
MODES = ("db_window", "percentile", "minmax")
# Smallest intensity mapped to dB; keeps log10 finite on zero pixels (no-data, shadow).
DB_FLOOR_INTENSITY = 1e-10


@dataclasses.dataclass(frozen=True)
class Radiometry:
    """How a physical-scale image becomes a [0, 1] display image.

    mode: "db_window" maps dB values in `db_range` linearly to [0, 1] (the fixed window used by
      SAR CLIP loaders, e.g. (x + 25) / 30); "percentile" stretches each band between its
      `percentiles`; "minmax" between its minimum and maximum. The last two stretch in dB
      (`stretch_domain="db"`) or in amplitude.
    Display-scale inputs ignore `mode`: they are divided by their dtype's maximum.
    """

    mode: str = "db_window"
    db_range: tuple[float, float] = (-25.0, 5.0)
    percentiles: tuple[float, float] = (2.0, 98.0)
    stretch_domain: str = "db"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"radiometry mode must be one of {MODES}, got {self.mode!r}")
        if self.stretch_domain not in ("db", "amplitude"):
            raise ValueError(f"radiometry stretch_domain must be 'db' or 'amplitude', got {self.stretch_domain!r}")
        lo, hi = self.db_range
        if not hi > lo:
            raise ValueError(f"radiometry db_range must be increasing, got {self.db_range}")
        plo, phi = self.percentiles
        if not 0.0 <= plo < phi <= 100.0:
            raise ValueError(f"radiometry percentiles must satisfy 0 <= lo < hi <= 100, got {self.percentiles}")


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"unknown pixel scale {scale!r}; expected one of {SCALES}")


# --- scale conversions --------------------------------------------------------------------------

def intensity_to_amplitude(intensity: np.ndarray) -> np.ndarray:
    # Negative intensities only come from resampling ringing; they have no amplitude.
    return np.sqrt(np.maximum(np.asarray(intensity, np.float64), 0.0)).astype(np.float32)


def amplitude_to_intensity(amplitude: np.ndarray) -> np.ndarray:
    a = np.asarray(amplitude, np.float64)
    return (a * a).astype(np.float32)


def intensity_to_db(intensity: np.ndarray, floor: float = DB_FLOOR_INTENSITY) -> np.ndarray:
    return (10.0 * np.log10(np.maximum(np.asarray(intensity, np.float64), floor))).astype(np.float32)


def db_to_intensity(db: np.ndarray) -> np.ndarray:
    return np.power(10.0, np.asarray(db, np.float64) / 10.0).astype(np.float32)


def complex_to_intensity(slc: np.ndarray) -> np.ndarray:
    z = np.asarray(slc)
    if not np.iscomplexobj(z):
        raise ValueError(f"complex (SLC) data must have a complex dtype, got {z.dtype}")
    return (z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2).astype(np.float32)


def covariance_to_intensity(cov: np.ndarray) -> np.ndarray:
    """The per-polarisation intensities of (..., n, n) covariance/coherency matrices: their real diagonal."""
    c = np.asarray(cov)
    if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
        raise ValueError(f"covariance matrices must have shape (..., n, n), got {c.shape}")
    return np.real(np.diagonal(c, axis1=-2, axis2=-1)).astype(np.float32)


def to_intensity(image: np.ndarray, scale: str) -> np.ndarray:
    """Linear intensity from a physical scale (not "display", whose physics is unknown)."""
    _check_scale(scale)
    if scale == "intensity":
        return np.asarray(image, np.float32)
    if scale == "amplitude":
        return amplitude_to_intensity(image)
    if scale == "db":
        return db_to_intensity(image)
    if scale == "complex":
        return complex_to_intensity(image)
    raise ValueError("a display-scale image has no known intensity; give its physical scale instead")


def from_intensity(intensity: np.ndarray, scale: str) -> np.ndarray:
    _check_scale(scale)
    if scale == "intensity":
        return np.asarray(intensity, np.float32)
    if scale == "amplitude":
        return intensity_to_amplitude(intensity)
    if scale == "db":
        return intensity_to_db(intensity)
    raise ValueError(f"cannot produce {scale!r} data from intensity")


def convert_scale(image: np.ndarray, src: str, dst: str) -> np.ndarray:
    return from_intensity(to_intensity(image, src), dst)


# --- bands --------------------------------------------------------------------------------------

def as_hwc(image: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 1); (H, W, C) unchanged."""
    x = np.asarray(image)
    if x.ndim == 2:
        return x[..., None]
    if x.ndim == 3:
        return x
    raise ValueError(f"an image must be (H, W) or (H, W, C), got shape {x.shape}")


def to_three_channels(unit: np.ndarray) -> np.ndarray:
    """1 band -> copied to 3; 2 bands (VV, VH) -> (VV, VH, mean); 3 bands unchanged."""
    x = as_hwc(unit)
    c = x.shape[-1]
    if c == 1:
        return np.repeat(x, 3, axis=-1)
    if c == 2:
        return np.concatenate([x, x.mean(axis=-1, keepdims=True)], axis=-1)
    if c == 3:
        return x
    raise ValueError(f"cannot map {c} bands to 3 channels (expected 1, 2 or 3)")


# --- normalisation ------------------------------------------------------------------------------

def db_window(db: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((np.asarray(db, np.float32) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def stretch(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(x - lo) / (hi - lo) clipped to [0, 1]; a flat band (hi == lo) maps to 0."""
    x = np.asarray(x, np.float32)
    span = np.asarray(hi - lo, np.float32)
    safe = np.where(span > 0, span, 1.0)
    return np.clip(np.where(span > 0, (x - lo) / safe, 0.0), 0.0, 1.0).astype(np.float32)


def band_percentiles(x: np.ndarray, lo_pct: float, hi_pct: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-band percentiles of an (H, W, C) image, ignoring non-finite pixels."""
    flat = as_hwc(x).reshape(-1, as_hwc(x).shape[-1]).astype(np.float64)
    lo, hi = [], []
    for band in flat.T:
        finite = band[np.isfinite(band)]
        if finite.size == 0:
            lo.append(0.0), hi.append(0.0)
            continue
        p = np.percentile(finite, [lo_pct, hi_pct])
        lo.append(p[0]), hi.append(p[1])
    return np.asarray(lo, np.float32), np.asarray(hi, np.float32)


def display_to_unit(image: np.ndarray) -> np.ndarray:
    """Divides an integer display product by its dtype's maximum (8-bit by 255, 16-bit by 65535)."""
    x = np.asarray(image)
    if np.issubdtype(x.dtype, np.integer):
        return (x.astype(np.float32) / np.float32(np.iinfo(x.dtype).max)).astype(np.float32)
    if np.issubdtype(x.dtype, np.floating):  # already a [0, 1] display image
        return np.clip(x.astype(np.float32), 0.0, 1.0)
    raise ValueError(f"display-scale data must be integer or float, got {x.dtype}")


def normalise(image: np.ndarray, scale: str, cfg: Radiometry) -> np.ndarray:
    """A physical or display image -> float32 (H, W, C) in [0, 1], bands kept separate."""
    _check_scale(scale)
    x = as_hwc(image)
    if scale == "display":
        return display_to_unit(x)
    if cfg.mode == "db_window":
        db = x if scale == "db" else intensity_to_db(to_intensity(x, scale))
        return db_window(db, *cfg.db_range)
    domain = intensity_to_db(to_intensity(x, scale)) if cfg.stretch_domain == "db" else (
        intensity_to_amplitude(to_intensity(x, scale)))
    if cfg.mode == "percentile":
        lo, hi = band_percentiles(domain, *cfg.percentiles)
    else:  # minmax
        lo, hi = band_percentiles(domain, 0.0, 100.0)
    return stretch(domain, lo, hi)


def to_unit_rgb(image: np.ndarray, scale: str, cfg: Radiometry = Radiometry()) -> np.ndarray:
    """Any supported SAR image -> float32 (H, W, 3) in [0, 1]; non-finite pixels become 0."""
    unit = to_three_channels(normalise(image, scale, cfg))
    return np.nan_to_num(unit, nan=0.0, posinf=1.0, neginf=0.0).astype(np.float32)


# --- statistics ---------------------------------------------------------------------------------

def equivalent_number_of_looks(intensity: np.ndarray) -> float:
    """mean^2 / variance of linear intensity: 1 for single-look speckle over a homogeneous area."""
    x = np.asarray(intensity, np.float64).ravel()
    var = x.var()
    if var <= 0:
        raise ValueError("ENL is undefined for a constant area")
    return float(x.mean() ** 2 / var)


def most_homogeneous_window(intensity: np.ndarray, size: int, block: int = 8, stride: int = 8) -> tuple[int, int]:
    """Top-left corner of the `size` x `size` window whose `block`-averaged means vary least.

    Uses only local means (first moments), so speckle statistics measured inside the window
    (ENL, distribution shape) are not what chose it.
    """
    x = np.asarray(intensity, np.float64)
    if x.ndim != 2 or size % block or size > min(x.shape):
        raise ValueError(f"need a 2-D image at least {size} px with size a multiple of block={block}")
    n = size // block
    best, corner = np.inf, (0, 0)
    for i in range(0, x.shape[0] - size + 1, stride):
        for j in range(0, x.shape[1] - size + 1, stride):
            means = x[i:i + size, j:j + size].reshape(n, block, n, block).mean(axis=(1, 3))
            m = means.mean()
            cv = means.std() / m if m > 0 else np.inf
            if cv < best:
                best, corner = cv, (i, j)
    return corner
