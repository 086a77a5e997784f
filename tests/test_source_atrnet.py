"""ATRNet-STAR parser: the README's XML tags, the image's size apart from the vehicle's, 'other'
vehicles skipped, the SOC-40 folder found one level down."""

import shutil

import numpy as np
import pytest
from etils import epath

from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import atrnet_star, common, fixtures

ROOT = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources" / "ATRNet-STAR"
FLAT = ("<annotation><filename>a.tif</filename><height>64</height><width>32</width><depth>1</depth>"
        "<object><type>other</type><xmin>0</xmin><xmax>4</xmax><ymin>0</ymin><ymax>4</ymax></object>"
        "<object><target_id>3</target_id><class>Truck</class><subclass>Small_Truck</subclass><type>Dongfeng_X</type>"
        "<length>5.2m</length><width>1.9m</width><height>2.1m</height>"
        "<xmin>8</xmin><xmax>24</xmax><ymin>16</ymin><ymax>48</ymax></object>"
        "<band>X</band><polarization>hv</polarization><depression_angle>45°</depression_angle></annotation>")


def test_unwrapped_tags_and_units(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text(FLAT)
    a = atrnet_star.parse_annotation(epath.Path(xml))
    assert (a["width"], a["height"]) == ("32", "64")  # the image's, not the truck's 1.9m x 2.1m
    assert (a["type"], a["subclass"], a["target_id"], a["length_m"]) == ("Dongfeng_X", "Small_Truck", "3", "5.2m")
    assert atrnet_star._number(a["depression_angle"]) == 45.0 and atrnet_star._number("1.79m", "m") == 1.79
    xml.write_text(FLAT.replace("<type>Dongfeng_X</type>", "<type>other</type>"))
    with pytest.raises(ValueError, match="no labelled vehicle"):
        atrnet_star.parse_annotation(epath.Path(xml))


def test_soc40_below_a_ground_range_folder(tmp_path):
    root = tmp_path / "ATRNet-STAR"
    shutil.copytree(ROOT / "SOC_40classes", root / "ground_range_uint8" / "SOC_40classes")
    report = report_lib.BuildReport()
    kept = dict(features.generate(atrnet_star.records(epath.Path(root), "train", common.Options()), "train", report))
    assert len(kept) == fixtures.EXPECTED["atrnet_star"]["train"]
    [example] = kept.values()
    assert example["label"] == "Changfeng_Cheetah_CFA6473C" and example["polarisation"] == "HH"
    np.testing.assert_allclose(np.asarray(example["objects"]["bbox"])[0], [9 / 32, 8 / 32, 25 / 32, 22 / 32])
    [bad] = report.to_dict()["sources"]["atrnet_star"]["examples"][report_lib.BAD_ANNOTATION]
    assert "X_HV_45_30_1002.xml: not readable as XML" in bad
