"""SARDet-100K parser on fixtures with the real release's COCO keys, mixed JPEG/PNG/BMP images,
ignore/iscrowd flags and both image-folder layouts."""

import json
import shutil

import numpy as np
from etils import epath

from sarclip_jax.data import sar_readers
from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, sardet

ROOT = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources" / "SARDet_100K"


def build(root, split):
    notes, report = [], report_lib.BuildReport()
    raws = sardet.records(epath.Path(root), split, common.Options(note=notes.append))
    kept = {key.rsplit("/", 1)[-1]: ex for key, ex in features.generate(raws, split, report)}
    return kept, report.to_dict()["sources"].get("sardet100k", {}), notes


def test_png_and_bmp_images_are_read_and_stored_losslessly():
    train, info, _ = build(ROOT, "train")
    assert set(train) == {"0000001.jpg", "0000002.png", "0000008.bmp"}
    bmp = train["0000008.bmp"]
    assert bmp["image_format"] == "png"  # a BMP is re-encoded losslessly, the pixels unchanged
    original = sar_readers.read_image(ROOT / "JPEGImages/train/0000008.bmp")
    np.testing.assert_array_equal(sar_readers.decode_image_bytes(bmp["image"]), original)
    assert info["skipped"] == {"train": {report_lib.MISSING_FILE: 1}}


def test_ignored_crowd_and_degenerate_boxes_are_left_out():
    train, _, _ = build(ROOT, "train")
    png = train["0000002.png"]  # one real tank box, one ignored, one crowd, one 0.5 px wide
    assert len(png["objects"]["bbox"]) == 1 and png["label"] == "tank"
    assert any("one oil tank" in c for c in png["captions"]) and not any("tanks" in c for c in png["captions"])
    np.testing.assert_allclose(np.asarray(png["objects"]["bbox"])[0], [4 / 32, 4 / 32, 12 / 32, 12 / 32])


def test_flattened_image_folder_and_absent_test_json(tmp_path):
    root = tmp_path / "SARDet_100K"
    (root / "JPEGImages").mkdir(parents=True)
    shutil.copytree(ROOT / "Annotations", root / "Annotations")
    (root / "Annotations/test.json").unlink()
    for f in (ROOT / "JPEGImages/train").iterdir():
        shutil.copy(f, root / "JPEGImages" / f.name)
    train, _, _ = build(root, "train")
    assert set(train) == {"0000001.jpg", "0000002.png", "0000008.bmp"}
    test, info, notes = build(root, "test")
    assert not test and not info
    assert notes == [f"sardet100k: no Annotations/test.json in {root}: no test split from this source"]
    coco = json.loads((root / "Annotations/train.json").read_text())
    assert {a["category_id"] for a in coco["annotations"]} <= set(range(6))  # ids from 0, as released
