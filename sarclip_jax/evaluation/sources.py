"""Evaluation data: a list of items (image reference, captions, label) from one of three places.

Config fields (exactly one of `dataset`, `folder`, `csv`):

    dataset="sarclip1m/synthetic", split="test", data_dir=...   a TFDS dataset written by
        tfds_sarclip (read with tfds.data_source); captions from `captions`, labels from
        `label` (a ClassLabel, or text such as the synthetic set's class word); with
        source="mstar", only the records of that source (sarclip1m/sources mixes seven)
    folder="/data/MSTAR_SOC/test"                                  a plain folder of class
        sub-folders (or <split>/<class>/ with `split`); classes are the sorted folder names
    csv="/data/sarclip/retrieval_file_list.csv"                    an OpenCLIP CSV/TSV of
        (image path, caption) rows, as SARCLIP ships its retrieval list; paths resolve against
        the CSV's folder, then `image_root`; a path leading outside both is skipped, never read
    float_scale="amplitude"   what float pixels in files are (intensity | amplitude | db)
    classes=None              text labels only: the label vocabulary, a list or a prompts set
                              name ("synthetic"); default the sorted labels found

Only the records are listed here; images are read when an evaluator embeds them, so a broken
image is found, counted and reported then. An item names its image by an `ImageRef` (picklable:
a TFDS source and index, or a file path), and `Images(refs)` is the random-access source the
evaluators' Grain input pipeline reads, in worker processes too.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from etils import epath

from sarclip_jax.data import records, tfds_source
from sarclip_jax.data.formats import caption_csv, imagefolder, paths

IMAGE_KINDS = ("tfds", "file", "missing")


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """Where an item's image is. `load()` -> a record {"image": encoded bytes, "scale": ...,
    "image_id": ...}: `source[where]` (tfds), `records.file_record(where, float_scale, key)`
    (file), or FileNotFoundError naming `key` (missing: a CSV row whose file is not found). Picklable;
    refs of one TFDS set share its source object, which a list of them pickles once."""

    kind: str
    where: Any  # record index (tfds) or path string (file)
    float_scale: str = "amplitude"
    key: str = ""
    source: Any = dataclasses.field(default=None, compare=False, repr=False)  # tfds: the data source

    def __post_init__(self):
        if self.kind not in IMAGE_KINDS:
            raise ValueError(f"image kind must be one of {IMAGE_KINDS}, got {self.kind!r}")

    def load(self) -> dict:
        if self.kind == "tfds":
            return self.source[self.where]
        if self.kind == "file":
            return records.file_record(epath.Path(self.where), self.float_scale, self.key)
        raise FileNotFoundError(f"{self.key}: not found next to the CSV or under image_root")


class Images:
    """The random-access source (len, getitem -> record) of a list of image refs, in their order:
    what `sarclip_jax.data.batching.eval_dataset` reads."""

    def __init__(self, refs: Sequence[ImageRef]):
        self.refs = list(refs)

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict:
        return self.refs[i].load()


@dataclasses.dataclass(frozen=True)
class Item:
    key: str  # image id for reports (record image_id, relative path, CSV path)
    image: ImageRef
    captions: tuple[str, ...] = ()
    label: int = -1
    kinds: tuple[str, ...] = ()  # each caption's kind (records.caption_kinds_of); () when unknown
    objects: tuple[str, ...] = ()  # the class of each annotated object (records.object_labels_of); () when none


@dataclasses.dataclass
class EvalSet:
    dataset: str  # what the report names: TFDS name, folder or CSV path
    split: str
    items: list[Item]
    class_names: list[str]  # label vocabulary, [] without labels
    skipped: dict[str, list[str]]  # reason -> item keys left out before evaluation


def source_kind(cfg) -> str:
    given = [k for k in ("dataset", "folder", "csv") if cfg.get(k)]
    if len(given) != 1:
        raise ValueError(f"an evaluator's data is exactly one of 'dataset' (TFDS), 'folder' (class sub-folders) or "
                         f"'csv' (image,caption rows); got {given or 'none'}")
    return given[0]


def describe(cfg) -> str:
    return str(cfg.get(source_kind(cfg)))


def open_set(cfg, want: str, tfds_source=None) -> EvalSet:
    """The items of cfg's data; `want` is "captions" or "label" (items without it are skipped).
    `tfds_source` replaces tfds.data_source for a TFDS dataset (tests, pre-opened sources)."""
    if want not in ("captions", "label"):
        raise ValueError(f"want must be 'captions' or 'label', got {want!r}")
    kind = source_kind(cfg)
    if kind == "dataset":
        return _from_tfds(cfg, want, tfds_source)
    if kind == "folder":
        if want != "label":
            raise ValueError("a class-folder tree has labels, not captions: use 'dataset' or 'csv' for retrieval")
        return _from_folder(cfg)
    if want != "captions":
        raise ValueError("a caption CSV has no labels: use 'dataset' or 'folder' for classification")
    return _from_csv(cfg)


# --- TFDS -----------------------------------------------------------------------------------------

def open_tfds(name: str, split: str, data_dir: str | None):
    return tfds_source.open_source(name, split, data_dir)


def _class_label_names(source) -> list[str] | None:
    try:
        feature = source.dataset_info.features["label"]
    except (AttributeError, KeyError, TypeError):
        return None
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _text_vocabulary(cfg, found: list[str]) -> list[str]:
    classes = cfg.get("classes")
    if not classes:
        return sorted(set(found))
    if isinstance(classes, str):
        from sarclip_jax.text import prompts

        known = {"synthetic": prompts.SYNTHETIC_CLASSES, "mstar": prompts.MSTAR_CLASSES}
        if classes not in known:
            raise ValueError(f"classes={classes!r}: give a list or one of {sorted(known)}")
        return list(known[classes])
    return [str(c) for c in classes]


def _from_tfds(cfg, want: str, source) -> EvalSet:
    split = cfg.get("split") or "test"
    source = source if source is not None else open_tfds(cfg.dataset, split, cfg.get("data_dir"))
    label_names = _class_label_names(source) if want == "label" else None
    skipped: dict[str, list[str]] = collections.defaultdict(list)
    rows = []
    only = cfg.get("source") or ""
    for i in range(len(source)):
        record = source[i]
        if only and records.text_of(record.get("source", "")) != only:
            continue
        key = records.text_of(record.get("image_id", i))
        if want == "captions":
            pairs = [(records.text_of(x).strip(), kind) for x, kind in zip(record.get("captions", []),
                                                                            records.caption_kinds_of(record))]
            pairs = [(c, kind) for c, kind in pairs if c]
            if not pairs:
                skipped["no_caption"].append(key)
                continue
            rows.append((i, key, tuple(pairs), None, ()))
        else:
            raw = record.get("label")
            if raw is None or (not isinstance(raw, (int, np.integer)) and not records.text_of(raw)):
                skipped["no_label"].append(key)
                continue
            rows.append((i, key, (), raw if isinstance(raw, (int, np.integer)) else records.text_of(raw),
                         tuple(records.object_labels_of(record))))

    def image(index: int, key: str) -> ImageRef:
        return ImageRef("tfds", index, key=key, source=source)

    if want == "captions":
        items = [Item(key, image(i, key), tuple(c for c, _ in pairs), kinds=tuple(k for _, k in pairs))
                 for i, key, pairs, *_ in rows]
        return EvalSet(cfg.dataset, split, items, [], dict(skipped))
    if label_names is not None:  # ClassLabel: integer labels, names from the dataset info
        items = [Item(key, image(i, key), (), int(raw), objects=objects) for i, key, _, raw, objects in rows]
        return EvalSet(cfg.dataset, split, items, label_names, dict(skipped))
    vocabulary = _text_vocabulary(cfg, [str(raw) for _, _, _, raw, _ in rows])
    index = {name: k for k, name in enumerate(vocabulary)}
    items = []
    for i, key, _, raw, objects in rows:
        if str(raw) not in index:
            skipped[f"label_not_in_classes:{raw}"].append(key)
            continue
        items.append(Item(key, image(i, key), (), index[str(raw)], objects=objects))
    return EvalSet(cfg.dataset, split, items, vocabulary, dict(skipped))


# --- files ------------------------------------------------------------------------------------------

def _file_image(path: epath.Path, float_scale: str, key: str) -> ImageRef:
    return ImageRef("file", str(path), float_scale, key)


def _float_scale(cfg) -> str:
    scale = cfg.get("float_scale") or "amplitude"
    if scale not in records.FLOAT_SCALES:
        raise ValueError(f"float_scale must be one of {records.FLOAT_SCALES}, got {scale!r}")
    return scale


def _from_folder(cfg) -> EvalSet:
    root = epath.Path(cfg.folder)
    if not root.is_dir():
        raise FileNotFoundError(f"folder={root}: not a directory")
    splits = imagefolder.layout(root)
    split = cfg.get("split") or "test"
    if split not in splits:
        raise ValueError(f"folder={root} has splits {sorted(splits)}, not {split!r}")
    names = imagefolder.class_names(root)
    index = {n: k for k, n in enumerate(names)}
    scale = _float_scale(cfg)
    items, skipped = [], collections.defaultdict(list)
    for label, path in imagefolder.files(splits[split]):
        key = str(path.relative_to(root))
        if not imagefolder.is_candidate(path):
            skipped["not_an_image"].append(key)
            continue
        items.append(Item(key, _file_image(path, scale, key), (), index[label]))
    return EvalSet(str(root), split, items, names, dict(skipped))


def _from_csv(cfg) -> EvalSet:
    path = epath.Path(cfg.csv)
    roots = [path.parent] + ([epath.Path(cfg.image_root)] if cfg.get("image_root") else [])
    scale = _float_scale(cfg)
    items, skipped = [], collections.defaultdict(list)
    for image_path, caption, kind in caption_csv.read_rows_with_kinds(path):
        if not caption:
            skipped["no_caption"].append(image_path)
            continue
        problem = caption_csv.row_problem(image_path, caption)
        if problem:
            skipped[f"bad_row:{problem}"].append(image_path.encode("utf-8", "backslashreplace").decode())
            continue
        try:
            resolved = caption_csv.resolve(image_path, roots)
        except paths.OutsideRootError:  # never read: the CSV names a file outside its folder and image_root
            skipped["path_outside_root"].append(image_path)
            continue
        image = (ImageRef("missing", None, key=image_path) if resolved is None
                 else _file_image(resolved, scale, image_path))
        items.append(Item(image_path, image, (caption,), kinds=(kind,)))
    return EvalSet(str(path), "csv", items, [], dict(skipped))
