"""SARDet-100K: COCO JSON annotations plus 8-bit images, in the layout its release ships
(checked against real annotation files, docs/data.md "SARDet-100K"):

    SARDet_100K/Annotations/{train,val,test}.json
    SARDet_100K/JPEGImages/{train,val,test}/<file_name>     (or JPEGImages/<file_name>, flattened,
                                                             as the official config expects)

The release merges ten datasets without converting them: despite the folder name, images are
JPEG, PNG and BMP (the decoder sniffs the bytes). Six categories with ids 0-5 (ship, aircraft,
car, tank, bridge, harbor). COCO boxes are [x, y, w, h] in pixels, normalised by the image's
width and height from the JSON. As the official loader does, annotations flagged `ignore` or
`iscrowd`, and boxes under a pixel wide or high or outside the image, describe nothing and are
left out of the captions. The official val and test splits become validation and test, so
neither reaches training; a release without test.json (the official README lists only train and
val as released) builds without a test split and says so.

An image entry with an unusable field is a bad annotation; one whose `file_name` leads outside
the source's folder is `path_outside_root` and is never read. A JSON file that does not parse,
or whose images / annotations / categories are not lists of objects, stops the build, naming it.
"""

from __future__ import annotations

import collections
import json

from etils import epath

from sarclip_jax.data.formats import paths
from tfds_sarclip import report as report_lib
from tfds_sarclip.sources import common

NAME = "sardet100k"
SPLITS = {"train": "train", "validation": "val", "test": "test"}
NOUNS = {"harbor": ("harbour", "harbours"), "car": ("car", "cars"), "tank": ("oil tank", "oil tanks")}


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["sardet"])


def _annotation_file(root: epath.Path, split: str) -> epath.Path | None:
    ann_dir = common.child(root, "Annotations")
    return common.child(ann_dir, f"{SPLITS[split]}.json") if ann_dir else None


def load_coco(path: epath.Path) -> dict:
    """The COCO dict, its three lists checked to hold objects; AnnotationFileError otherwise."""
    try:
        coco = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise report_lib.AnnotationFileError(f"{path}: not readable COCO JSON ({type(e).__name__}: {e})") from e
    if not isinstance(coco, dict):
        raise report_lib.AnnotationFileError(f"{path}: a COCO file is a JSON object, got {type(coco).__name__}")
    for key in ("images", "annotations", "categories"):
        entries = coco.setdefault(key, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise report_lib.AnnotationFileError(f"{path}: '{key}' must be a list of objects")
    return coco


def _file_name(image: dict) -> str:
    name = image.get("file_name")
    return name if isinstance(name, str) and name.strip() and "\0" not in name else ""


def test_names(root: epath.Path) -> set[str]:
    """File names of the official test images (another source may reuse them)."""
    ann = _annotation_file(root, "test")
    if ann is None:
        return set()
    return {epath.Path(name).name for name in map(_file_name, load_coco(ann)["images"]) if name}


def _hashable(value):
    return value if isinstance(value, (int, float, str)) else None  # lists, dicts: no valid id


def _objects(annotations: list[dict], names: dict, width, height) -> list:
    """(label, box) per annotation; raises KeyError / TypeError / ValueError on a bad one (boxes
    that are not finite or empty are caught by common.record)."""
    width, height = float(width or 0), float(height or 0)
    objects = []
    for a in annotations:
        if not isinstance(a.get("bbox"), list):
            raise TypeError(f"annotation {a.get('id')!r}: bbox {a.get('bbox')!r} is not a list")
        x, y, w, h = (float(v) for v in a["bbox"])
        label = names[_hashable(a.get("category_id"))]
        if a.get("ignore") or a.get("iscrowd") or not _visible(x, y, w, h, width, height):
            continue
        objects.append((label, common.pixel_box(x, y, x + w, y + h, width, height)))
    return objects


def _visible(x, y, w, h, width, height) -> bool:
    """A box of at least a pixel that overlaps the image (the official loader's test). NaN fails
    every comparison and is left to common.record to report."""
    if any(v != v for v in (x, y, w, h)):
        return True
    return w >= 1 and h >= 1 and x < width and y < height and x + w > 0 and y + h > 0


def records(root: epath.Path, split: str, options: common.Options):
    seed = options.seed
    ann = _annotation_file(root, split)
    if ann is None:
        options.note(f"{NAME}: no Annotations/{SPLITS[split]}.json in {root}: no {split} split from this source")
        return
    coco = load_coco(ann)
    names = {_hashable(c.get("id")): str(c.get("name", "")).lower() for c in coco["categories"]}
    names.pop(None, None)  # categories without a usable id name nothing
    by_image = collections.defaultdict(list)
    for a in coco["annotations"]:
        by_image[_hashable(a.get("image_id"))].append(a)
    image_dir = common.child(root, "JPEGImages") or root
    split_dir = common.child(image_dir, SPLITS[split])
    for index, image in sorted(enumerate(coco["images"]), key=lambda e: (_file_name(e[1]), e[0])):
        name = _file_name(image)
        entry = f"{ann.name} image #{index}"
        if not name:
            yield _bad(root, entry, f"file_name {image.get('file_name')!r}", seed)
            continue
        path = _image_path(image_dir, split_dir, name)  # an absolute name replaces the folder: caught next
        if not paths.is_inside(path, [root]):
            yield _bad(root, entry, f"file_name {name!r} leads outside {root}", seed, report_lib.OUTSIDE_ROOT)
            continue
        try:
            objects, problem = _objects(by_image.get(_hashable(image.get("id")), []), names,
                                        image.get("width"), image.get("height")), ""
        except (KeyError, TypeError, ValueError) as e:
            objects, problem = [], f"{type(e).__name__}: {e}"
        main = collections.Counter(label for label, _ in objects).most_common(1)
        yield common.record(NAME, root, path, path.read_bytes, seed=seed, label=main[0][0] if main else "",
                            objects=objects, nouns=NOUNS, sensor="multi-sensor spaceborne", problem=problem)


def _image_path(image_dir: epath.Path, split_dir: epath.Path | None, name: str) -> epath.Path:
    """JPEGImages/<split>/<name> as released, else a flattened JPEGImages/<name>."""
    if split_dir is not None:
        path = split_dir / name
        if path.exists() or not (image_dir / name).exists():
            return path
    return image_dir / name


def _bad(root: epath.Path, entry: str, problem: str, seed: int, reason: str = ""):
    return common.record(NAME, root, entry, lambda: b"", seed=seed, label="", objects=[], problem=problem,
                         problem_reason=reason)
