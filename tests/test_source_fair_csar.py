"""FAIR-CSAR parser on the authors' layout: {trainval,test}/Annotations + SLCMats/<stem>.mat (key
"data"), boxes sized by the SLC's own shape, VOC-SL preferred over VOC-FSI."""

import shutil

import numpy as np
import pytest
from etils import epath

from sarclip_jax.data import sar_readers
from tfds_sarclip import features, fixture_io
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, fair_csar, fixtures

ROOT = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources" / "FAIR-CSAR"


def build(root, split):
    report = report_lib.BuildReport()
    kept = {key.rsplit("/", 1)[-1]: ex for key, ex in
            features.generate(fair_csar.records(epath.Path(root), split, common.Options()), split, report)}
    return kept, report.to_dict()["sources"].get("fair_csar", {})


def test_trainval_boxes_are_sized_by_the_slc():
    train, info = build(ROOT, "train")
    example = train[fixtures.FAIR_STEM]
    slc = sar_readers.decode_image_bytes(example["image"])
    assert slc.shape == (40, 48) and slc.dtype == np.complex64 and example["scale"] == "complex"
    boxes = np.asarray(example["objects"]["bbox"])
    np.testing.assert_allclose(boxes[0], [2 / 40, 2 / 48, 6 / 40, 10 / 48])  # (ymin, xmin, ymax, xmax)
    assert [label for label in example["objects"]["label"]] == ["container ship", "warship"]
    [empty] = info["examples"][report_lib.OUTSIDE_PROTOCOL]
    assert fixtures.FAIR_EMPTY_STEM in empty and "no box" in empty
    test, _ = build(ROOT, "test")
    assert list(test) == [fixtures.FAIR_TEST_STEM]


def test_fine_grained_variant_is_preferred(tmp_path):
    root = tmp_path / "FAIR-CSAR"
    shutil.copytree(ROOT / "VOC-SL", root / "VOC-SL")
    fsi = root / "VOC-FSI" / "trainval"
    (fsi / "annfiles").mkdir(parents=True)
    (fsi / "annfiles" / f"{fixtures.FAIR_STEM}.txt").write_text("2 2 10 2 10 6 2 6 Ship 0\n")
    shutil.copytree(root / "VOC-SL/trainval/SLCMats", fsi / "SLCMats")
    train, _ = build(root, "train")
    assert list(train[fixtures.FAIR_STEM]["objects"]["label"]) == ["container ship", "warship"]
    shutil.rmtree(root / "VOC-SL")
    train, _ = build(root, "train")  # the coarse variant alone, with its annfiles/ folder
    assert list(train[fixtures.FAIR_STEM]["objects"]["label"]) == ["ship"]


def test_slc_shape_comes_from_the_header(tmp_path):
    mat = tmp_path / "a.mat"
    mat.write_bytes(fixture_io.mat_bytes({"data": np.zeros((7, 5), np.complex64), "other": np.zeros(3)}))
    assert fair_csar.slc_shape(epath.Path(mat)) == (7, 5)
    mat.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="a.mat: not a readable .mat file"):
        fair_csar.slc_shape(epath.Path(mat))
