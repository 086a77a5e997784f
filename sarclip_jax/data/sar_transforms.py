"""One stored record -> model inputs: decode, radiometry, augment, CLIP resize/crop/normalise.

The steps, in order (all numpy; randomness only from the rng passed in):
  1. decode the stored bytes in their native dtype (records.decode_image);
  2. physical scales (intensity, amplitude, dB, complex) -> linear intensity, optional gamma
     speckle, then the configured normalisation to [0, 1]; display products / dtype max, with
     speckle applied as amplitude;
  3. optional random 90-degree rotation/flip;
  4. random resized crop to the output size, or CLIP's resize of the short side + centre crop;
     resampling is bicubic on float32 bands (PIL mode "F"), so float data keeps its precision;
  5. bands -> 3 channels (1: copied; 2: VV, VH, mean), then (x - mean) / std.
An 8-bit display image left untouched by augmentation goes through `preprocess` (CLIP's exact
uint8 path) instead, so evaluation on 8-bit test sets matches the official preprocessing.
Resizing runs before the band mapping: it is linear, so the (VV, VH, mean) channels commute
with it, and a single-band image is resized once instead of three times.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from sarclip_jax.data import preprocess, records, sar_augment, sar_radiometry
from sarclip_jax.data.preprocess import OPENAI_MEAN, OPENAI_STD


def to_unit(image: np.ndarray, scale: str, radiometry: sar_radiometry.Radiometry,
            looks: float | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """float32 (H, W, bands) in [0, 1], with L-look speckle added first when `looks` is given."""
    if scale == "display":
        unit = sar_radiometry.display_to_unit(sar_radiometry.as_hwc(image))
        if looks is not None:
            unit = sar_augment.speckle_unit(unit, looks, rng)
        return unit
    intensity = sar_radiometry.to_intensity(sar_radiometry.as_hwc(image), scale)
    if looks is not None:
        intensity = sar_augment.speckle_intensity(intensity, looks, rng)
    unit = sar_radiometry.normalise(intensity, "intensity", radiometry)
    return np.nan_to_num(unit, nan=0.0, posinf=1.0, neginf=0.0)


def resize_bands(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of each band of an (H, W, C) float32 image."""
    if x.shape[:2] == (height, width):
        return x.astype(np.float32, copy=False)
    bands = [np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c], np.float32), mode="F")
                        .resize((width, height), Image.BICUBIC)) for c in range(x.shape[-1])]
    return np.stack(bands, axis=-1)


def clip_resize_crop(x: np.ndarray, size: int) -> np.ndarray:
    """CLIP's eval geometry (the same sizes and offsets as `preprocess`): short side -> size,
    then the centred size x size crop."""
    h, w = x.shape[:2]
    nw, nh = preprocess.resized_size(w, h, size)
    x = resize_bands(x, nh, nw)
    left, top, _, _ = preprocess.crop_box(nw, nh, size)
    return x[top:top + size, left:left + size]


def normalise_rgb(rgb: np.ndarray, mean=OPENAI_MEAN, std=OPENAI_STD) -> np.ndarray:
    # Bicubic overshoot is clipped first, as CLIP's uint8 pipeline clips it.
    rgb = np.clip(rgb, 0.0, 1.0)
    return ((rgb - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def bands_to_model_rgb(unit: np.ndarray, mean=OPENAI_MEAN, std=OPENAI_STD) -> np.ndarray:
    """(H, W, bands) in [0, 1] -> normalised (H, W, 3), the band mapping of `to_three_channels`
    fused with the normalisation (one pass for single-band images, the common case)."""
    unit = np.clip(unit, 0.0, 1.0)
    mean32, inv_std = np.asarray(mean, np.float32), np.float32(1.0) / np.asarray(std, np.float32)
    if unit.shape[-1] == 1:
        return (unit - mean32) * inv_std  # broadcasts the band over the 3 channels
    return (sar_radiometry.to_three_channels(unit) - mean32) * inv_std


def image_for_model(record: dict, size: int, radiometry: sar_radiometry.Radiometry,
                    augment: sar_augment.Augment | None = None, rng: np.random.Generator | None = None,
                    mean=OPENAI_MEAN, std=OPENAI_STD, decoded: tuple[np.ndarray, str] | None = None) -> np.ndarray:
    """float32 (size, size, 3), normalised; `augment=None` is the deterministic eval path.
    `decoded`: the record's `records.decode_image` result when the caller already has it."""
    image, scale = decoded if decoded is not None else records.decode_image(record)
    looks = sar_augment.draw_looks(augment, rng) if augment is not None else None
    geometric = augment is not None and (augment.dihedral or augment.crops)
    if (scale == "display" and image.dtype == np.uint8 and sar_radiometry.as_hwc(image).shape[-1] in (1, 3)
            and looks is None and not geometric):
        # An untouched 8-bit product: exactly CLIP's own uint8 preprocessing, as the official
        # SARCLIP evaluation applies it, so scores compare.
        return preprocess.preprocess_image(image, size, mean, std)
    unit = to_unit(image, scale, radiometry, looks, rng)
    if augment is not None and augment.dihedral:
        unit = sar_augment.random_dihedral(unit, rng)
    if augment is not None and augment.crops:
        box = sar_augment.random_crop_box(unit.shape[0], unit.shape[1], rng, augment.crop_scale, augment.crop_ratio)
        unit = resize_bands(sar_augment.crop(unit, box), size, size)
    else:
        unit = clip_resize_crop(unit, size)
    return bands_to_model_rgb(unit, mean, std).astype(np.float32, copy=False)


def pick_caption(record: dict, rng: np.random.Generator, kind_weights: dict[str, float] | None = None) -> str:
    """One of the record's captions: uniformly, or with probability proportional to the weight of
    its kind (kinds not in `kind_weights` weigh 1; if every caption weighs 0, uniformly)."""
    captions = records.captions_of(record)
    if not captions:
        raise ValueError(f"record {records.text_of(record.get('image_id', '?'))} has no caption")
    if not kind_weights:
        return captions[int(rng.integers(len(captions)))]
    weights = np.array([kind_weights.get(k, 1.0) for k in records.caption_kinds_of(record)], np.float64)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    # One uniform draw per caption choice, so the generator advances the same for any weights.
    index = int(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(), side="right"))
    return captions[min(index, len(captions) - 1)]


def pick_captions(record: dict, rng: np.random.Generator, count: int,
                  kind_weights: dict[str, float] | None = None) -> list[str]:
    """`count` of the record's captions, drawn with the kind weights of `pick_caption` and without
    replacement while the record has captions of non-zero weight left, then with replacement (a
    record with fewer captions repeats some). count 1 is exactly `pick_caption`."""
    if count == 1:
        return [pick_caption(record, rng, kind_weights)]
    captions = records.captions_of(record)
    if not captions:
        raise ValueError(f"record {records.text_of(record.get('image_id', '?'))} has no caption")
    weights = np.ones(len(captions), np.float64)
    if kind_weights:
        weights = np.array([kind_weights.get(k, 1.0) for k in records.caption_kinds_of(record)], np.float64)
        if weights.sum() <= 0:
            weights = np.ones_like(weights)
    p = weights / weights.sum()
    distinct = min(count, int(np.count_nonzero(p)))
    chosen = np.concatenate([rng.choice(len(captions), size=distinct, replace=False, p=p),
                             rng.choice(len(captions), size=count - distinct, replace=True, p=p)])
    return [captions[int(i)] for i in chosen]
