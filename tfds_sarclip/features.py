"""The builders' side of the stored record: a parser's RawRecord checked and written through
`sarclip_jax.data.records` (the one definition of the image fields), plus the caption fields.

One `Tensor(dtype=object)` field holds every kind of encoded image, so a dataset can mix 8-bit
and float sources and stays readable without TensorFlow (`records.decode_image` decodes it).

Boxes are (ymin, xmin, ymax, xmax), normalised to [0, 1] by the image height and width.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sarclip_jax.data import records, sar_radiometry, sar_readers
from tfds_sarclip import report as report_lib

Box = tuple[float, float, float, float]


class RecordError(Exception):
    """A record that cannot be kept; `reason` is one of the report's reasons."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclasses.dataclass
class RawRecord:
    """A parsed record before its image is read. `load()` returns file bytes or an array."""

    source: str
    image_id: str
    load: Callable[[], bytes | np.ndarray]
    scale: str
    captions: Sequence[str] = ()
    caption_kinds: Sequence[str] = ()  # parallel to captions; empty: every caption's kind is unknown
    label: str = ""
    objects: Sequence[tuple[str, Box]] = ()
    polarisation: str = ""
    sensor: str = ""
    allowed_bands: tuple[int, ...] = (1, 2, 3)
    float_scale: str = ""  # with scale="auto": the scale of float data (integers are "display")
    background: str = ""  # scene type when known (synthetic scenes)
    problem: str = ""  # a parser's reason the annotation is unusable (reported as bad_annotation)
    problem_reason: str = ""  # the report reason for `problem` when not bad_annotation (path_outside_root)


def image_features() -> dict[str, Any]:
    """The TFDS spec of records.IMAGE_FIELDS."""
    import tensorflow_datasets as tfds

    ints = {"height", "width", "bands"}
    spec = {}
    for name, doc in records.IMAGE_FIELDS.items():
        if name == "image":
            spec[name] = tfds.features.Tensor(shape=(), dtype=np.object_, doc=doc)
        else:
            spec[name] = np.int32 if name in ints else tfds.features.Text(doc=doc)
    return spec


def caption_features() -> dict[str, Any]:
    import tensorflow_datasets as tfds

    return {
        "label": tfds.features.Text(doc="class name; empty when the source has none"),
        "background": tfds.features.Text(doc="scene type when known (synthetic), else empty"),
        "captions": tfds.features.Sequence(tfds.features.Text()),
        "caption_kinds": tfds.features.Sequence(tfds.features.Text(
            doc="the kind of each caption: general, counting, absolute, relative, absolute_count, unknown")),
        "objects": tfds.features.Sequence({
            "bbox": tfds.features.Tensor(shape=(4,), dtype=np.float32),
            "label": tfds.features.Text(),
        }),
    }


def load_array(raw: RawRecord) -> tuple[np.ndarray, bytes | None]:
    """(decoded array, original bytes or None); failures become RecordErrors."""
    try:
        loaded = raw.load()
    except FileNotFoundError as e:
        raise RecordError(report_lib.MISSING_FILE, f"{e.filename or e}: no such file (moved, or not downloaded?)") from e
    except sar_readers.ImageDecodeError as e:
        reason = report_lib.MISSING_FILE if "file not found" in str(e) else report_lib.UNREADABLE
        raise RecordError(reason, str(e)) from e
    except Exception as e:  # loaders run third-party decoders (.mat, MSTAR) on untrusted files
        raise RecordError(report_lib.UNREADABLE, f"{raw.image_id}: {type(e).__name__}: {e}") from e
    if isinstance(loaded, (bytes, bytearray)):
        try:
            return sar_readers.decode_image_bytes(bytes(loaded), raw.image_id), bytes(loaded)
        except sar_readers.ImageDecodeError as e:
            raise RecordError(report_lib.UNREADABLE, str(e)) from e
    return np.asarray(loaded), None


def check_objects(objects: Sequence[tuple[str, Box]], image_id: str) -> tuple[np.ndarray, list[str]]:
    """(boxes clipped to [0, 1], labels); RecordError(bad_annotation) on a non-finite or empty box
    or an empty label."""
    boxes, labels = [], []
    for label, box in objects:
        try:
            b = np.asarray(box, np.float64)
        except (TypeError, ValueError):
            b = np.full(1, np.nan)
        if b.shape != (4,) or not np.all(np.isfinite(b)) or not label:
            raise RecordError(report_lib.BAD_ANNOTATION, f"{image_id}: box {box!r} label {label!r}")
        b = np.clip(b, 0.0, 1.0)  # boxes a pixel past the border are common in COCO-style files
        if b[2] <= b[0] or b[3] <= b[1]:
            raise RecordError(report_lib.BAD_ANNOTATION, f"{image_id}: empty box {box!r}")
        boxes.append(b.astype(np.float32))
        labels.append(label)
    return np.asarray(boxes, np.float32).reshape(-1, 4), labels


def to_example(raw: RawRecord, with_captions: bool = True) -> dict[str, Any]:
    """The example dict for `raw`; raises RecordError with a report reason if it is unusable."""
    if raw.scale not in (*sar_radiometry.SCALES, "auto"):
        raise ValueError(f"{raw.source}: unknown scale {raw.scale!r}")
    if raw.scale == "auto" and raw.float_scale not in sar_radiometry.SCALES:
        raise ValueError(f"{raw.source}: scale 'auto' needs float_scale in {sar_radiometry.SCALES}, "
                         f"got {raw.float_scale!r}")
    if raw.problem:
        raise RecordError(raw.problem_reason or report_lib.BAD_ANNOTATION, f"{raw.image_id}: {raw.problem}")
    if raw.caption_kinds and len(raw.caption_kinds) != len(raw.captions):
        raise ValueError(f"{raw.source}/{raw.image_id}: {len(raw.caption_kinds)} caption kinds for "
                         f"{len(raw.captions)} captions")
    kinds = list(raw.caption_kinds) or [records.UNKNOWN_KIND] * len(raw.captions)
    kept = [(c.strip(), k) for c, k in zip(raw.captions, kinds) if c and c.strip()]
    captions, kinds = [c for c, _ in kept], [k for _, k in kept]
    if with_captions and not captions:
        raise RecordError(report_lib.EMPTY_CAPTION, f"{raw.image_id}: its caption text is empty")
    array, original = load_array(raw)
    if array.ndim not in (2, 3):
        raise RecordError(report_lib.UNREADABLE, f"{raw.image_id}: shape {array.shape}")
    bands = 1 if array.ndim == 2 else array.shape[-1]
    if bands not in raw.allowed_bands:
        raise RecordError(report_lib.BAD_BANDS, f"{raw.image_id}: {bands} bands, expected {raw.allowed_bands}")
    if np.issubdtype(array.dtype, np.floating) and not np.any(np.isfinite(array)):
        raise RecordError(report_lib.UNREADABLE, f"{raw.image_id}: no finite pixel")
    scale = raw.scale if raw.scale != "auto" else records.infer_scale(array.dtype, raw.float_scale)
    if scale == "complex" and not np.iscomplexobj(array):
        raise RecordError(report_lib.UNREADABLE, f"{raw.image_id}: scale 'complex' but dtype {array.dtype}")
    example = records.image_record(array, scale, original=original, image_id=raw.image_id, source=raw.source,
                                   polarisation=raw.polarisation, sensor=raw.sensor)
    if with_captions:
        boxes, labels = check_objects(raw.objects, raw.image_id)
        example.update(label=raw.label, background=raw.background, captions=captions, caption_kinds=kinds,
                       objects={"bbox": boxes, "label": labels})
    return example


def generate(raws, split: str, report: report_lib.BuildReport, with_captions: bool = True,
             extra: Callable[[RawRecord], dict[str, Any]] | None = None):
    """Yields (key, example) for the good records, counting every record in `report`. A key seen
    before in the split is reported as a duplicate (TFDS would stop the whole build on it)."""
    seen: set[str] = set()
    for raw in raws:
        key = f"{raw.source}/{raw.image_id}"
        try:
            example = to_example(raw, with_captions=with_captions)
            if key in seen:
                raise RecordError(report_lib.DUPLICATE, f"{raw.image_id}: listed twice")
        except RecordError as e:
            report.skip(raw.source, split, e.reason, raw.image_id, e.detail)
            continue
        seen.add(key)
        if extra is not None:
            example.update(extra(raw))
        report.keep(raw.source, split, example.get("captions", ()), label=raw.label,
                    objects=[name for name, _ in raw.objects])
        yield key, example


def nonempty_splits(generators: dict[str, Any], report: report_lib.BuildReport) -> dict[str, Any]:
    """Drops splits with no good record (TFDS refuses to write an empty split). Each generator is
    advanced to its first good example here and resumed by the writer later."""
    import itertools

    out = {}
    for split, gen in generators.items():
        first = next(gen, None)
        if first is None:
            report.note(f"split {split!r}: no record, not written")
        else:
            out[split] = itertools.chain([first], gen)
    if not out:
        report.check()  # names the sources whose every record was bad
        raise ValueError("no record in any split")
    return out
