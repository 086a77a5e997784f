"""SARDet-100K: COCO JSON annotations plus 8-bit JPEG images, in the layout its release ships:

    SARDet_100K/Annotations/{train,val,test}.json
    SARDet_100K/JPEGImages/{train,val,test}/<file_name>

Six categories (ship, aircraft, car, tank, bridge, harbor). COCO boxes are [x, y, w, h] in
pixels, normalised by the image's width and height from the JSON. The official val and test
splits become validation and test, so neither reaches training.
"""

from __future__ import annotations

import collections
import json

from etils import epath

from tfds_sarclip.sources import common

NAME = "sardet100k"
SPLITS = {"train": "train", "validation": "val", "test": "test"}
NOUNS = {"harbor": ("harbour", "harbours"), "car": ("car", "cars"), "tank": ("oil tank", "oil tanks")}


def find(manual_dir: epath.Path) -> epath.Path | None:
    return common.find_dir(manual_dir, ["sardet"])


def test_names(root: epath.Path) -> set[str]:
    """File names of the official test images (another source may reuse them)."""
    ann_dir = common.child(root, "Annotations")
    ann = common.child(ann_dir, "test.json") if ann_dir else None
    if ann is None:
        return set()
    return {epath.Path(im["file_name"]).name for im in json.loads(ann.read_text()).get("images", [])}


def records(root: epath.Path, split: str, seed: int):
    ann_dir = common.child(root, "Annotations")
    ann = common.child(ann_dir, f"{SPLITS[split]}.json") if ann_dir else None
    if ann is None:
        return
    coco = json.loads(ann.read_text())
    names = {c["id"]: str(c["name"]).lower() for c in coco.get("categories", [])}
    by_image = collections.defaultdict(list)
    for a in coco.get("annotations", []):
        by_image[a.get("image_id")].append(a)
    image_dir = common.child(root, "JPEGImages")
    for image in sorted(coco.get("images", []), key=lambda im: str(im.get("file_name"))):
        path = (image_dir / SPLITS[split] / image["file_name"]) if image_dir else root / image["file_name"]
        width, height = float(image.get("width") or 0), float(image.get("height") or 0)
        objects, problem = [], ""
        for a in by_image.get(image.get("id"), []):
            try:
                x, y, w, h = (float(v) for v in a["bbox"])
                label = names[a.get("category_id")]
                objects.append((label, common.pixel_box(x, y, x + w, y + h, width, height)))
            except (KeyError, TypeError, ValueError) as e:
                problem = f"annotation {a.get('id')}: {type(e).__name__} {e}"
        main = collections.Counter(label for label, _ in objects).most_common(1)
        yield common.record(NAME, root, path, path.read_bytes, seed=seed, label=main[0][0] if main else "",
                            objects=objects, nouns=NOUNS, sensor="multi-sensor spaceborne", problem=problem)
