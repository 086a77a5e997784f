"""Stored images -> model input, for evaluation (no augmentation, no randomness).

Every image, from a TFDS record or a file, arrives as a record {"image": encoded bytes,
"scale": ..., "image_id": ...} as sarclip_jax.data.records defines it, so one function prepares both.
Two image pipelines, named in every report:
  "sar"   the project's eval path: `sarclip_jax.data.sar_transforms.image_for_model` without
          augmentation, the function the Grain eval pipeline applies during training.
  "clip"  the official SARCLIP scripts' path: the image as an 8-bit picture (display products
          as stored; physical scales mapped with the radiometry window, then rounded to 8
          bits), then CLIP's PIL preprocessing (`sarclip_jax.data.preprocess`).
"""

from __future__ import annotations

import numpy as np

from sarclip_jax.data import preprocess, records, sar_radiometry, sar_transforms

PIPELINES = ("sar", "clip")
DEFAULT_RADIOMETRY = sar_radiometry.Radiometry()  # the fixed dB window SAR CLIP loaders use
FLOAT_SCALES = records.FLOAT_SCALES


def prepare(record: dict, size: int, pipeline: str = "sar",
            radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY) -> np.ndarray:
    """float32 (size, size, 3), CLIP-normalised."""
    if pipeline == "sar":
        return sar_transforms.image_for_model(record, size, radiometry)
    if pipeline == "clip":
        pixels, scale = records.decode_image(record)
        as_8bit = np.round(sar_radiometry.to_unit_rgb(pixels, scale, radiometry) * 255.0).astype(np.uint8)
        return preprocess.preprocess_image(as_8bit, size)
    raise ValueError(f"unknown image pipeline {pipeline!r}; expected one of {PIPELINES}")


class Prepare:
    """record -> {"image": float32 (size, size, 3)} under one pipeline, for the eval input pipeline
    (`sarclip_jax.data.batching.eval_dataset`); picklable, so Grain worker processes run it. Any
    failure raises, and the pipeline counts the image as failed instead of scoring it."""

    def __init__(self, size: int, pipeline: str = "sar", radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY):
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown image pipeline {pipeline!r}; expected one of {PIPELINES}")
        self.size, self.pipeline, self.radiometry = size, pipeline, radiometry

    def blank(self) -> dict[str, np.ndarray]:
        return {"image": np.zeros((self.size, self.size, 3), np.float32)}

    def __call__(self, record: dict) -> dict[str, np.ndarray]:
        out = prepare(record, self.size, self.pipeline, self.radiometry)
        if out.shape != (self.size, self.size, 3) or not np.all(np.isfinite(out)):
            raise ValueError(f"prepared image has shape {out.shape} or non-finite values")
        return {"image": np.asarray(out, np.float32)}
