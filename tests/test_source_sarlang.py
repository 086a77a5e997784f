"""SARLANG-1M parser: .tif/.png twins, SARDet-100K images found in their own folder, the
chosen CSV columns reported."""

import shutil

import numpy as np
from etils import epath

from sarclip_jax.data import sar_readers
from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, fixtures, sarlang

SOURCES = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources"
ROOT = SOURCES / "SARLANG-1M"


def build(root, split):
    notes, report = [], report_lib.BuildReport()
    raws = sarlang.records(epath.Path(root), split, common.Options(note=notes.append))
    kept = {key.split("/", 1)[1]: ex for key, ex in features.generate(raws, split, report)}
    return kept, notes


def test_twins_and_sardet_images_are_found():
    train, notes = build(ROOT, "train")
    assert len(train) == fixtures.EXPECTED["sarlang1m"]["train"] + 1  # + 0000777.jpg, held out by the builder
    paris = train["SARimages/Paris_2.tif"]
    np.testing.assert_array_equal(sar_readers.decode_image_bytes(paris["image"]),
                                  sar_readers.read_image(ROOT / "SARimages/Paris_2.png"))
    sardet_image = train["SARimages/0000001.jpg"]
    assert sardet_image["image"] == (SOURCES / "SARDet_100K/JPEGImages/train/0000001.jpg").read_bytes()
    assert f"sarlang1m: 1 image(s) named in the CSVs were read from their .tif/.png twin in {ROOT / 'SARimages'}" \
        in notes[-2]
    assert notes[-1] == f"sarlang1m: 1 SARDet-100K image(s) were read from {SOURCES / 'SARDet_100K'}"
    assert "Caption-training.csv: image column 'image_name', caption column 'caption_text'" in notes[0]


def test_test_captions_of_both_files_are_grouped():
    test, _ = build(ROOT, "test")
    assert list(test) == ["SARimages/Test_Tokyo_1.png"]
    assert list(test["SARimages/Test_Tokyo_1.png"]["captions"]) == ["A dense urban area crossed by a river.",
                                                                   "A city."]


def test_without_sardet_beside_it_the_image_is_missing(tmp_path):
    shutil.copytree(ROOT, tmp_path / "SARLANG-1M")
    train, _ = build(tmp_path / "SARLANG-1M", "train")
    assert "SARimages/0000001.jpg" not in train and "SARimages/Paris_2.tif" in train
