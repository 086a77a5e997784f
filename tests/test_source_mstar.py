"""MSTAR parser: SOC depressions and serials, from headers (raw chips) or folder names (conversions)."""

import numpy as np
import pytest
from etils import epath

from sarclip_jax.data.formats import mstar as phoenix
from tfds_sarclip import features
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, fixtures, mstar

ROOT = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources" / "MSTAR"


def build(root, split):
    report = report_lib.BuildReport()
    kept = {key.split("/", 1)[1]: ex for key, ex in
            features.generate(mstar.records(epath.Path(root), split, common.Options()), split, report)}
    return kept, report.to_dict()["sources"].get("mstar", {})


def test_soc_splits_and_what_is_left_out():
    train, info = build(ROOT, "train")
    test, _ = build(ROOT, "test")
    assert {ex["label"] for ex in train.values()} == {"BRDM2", "BMP2", "T62"}
    assert {ex["label"] for ex in test.values()} == {"D7", "ZSU234"}
    assert any("SN_9563" in k for k in train) and not any("SN_C21" in k for k in train)
    assert (len(train), len(test)) == (fixtures.EXPECTED["mstar"]["train"], fixtures.EXPECTED["mstar"]["test"])
    outside = info["examples"][report_lib.OUTSIDE_PROTOCOL]
    assert any("HB15001.002: depression 30 degrees: SOC trains at 17 and tests at 15" in e for e in outside)
    assert any("serial c21: SOC's BMP2 is serial 9563" in e for e in outside)
    assert info["skipped"]["train"] == {report_lib.OUTSIDE_PROTOCOL: 2, report_lib.UNREADABLE: 1}


def test_depression_comes_from_the_header_not_the_extension(tmp_path):
    mag = np.ones((4, 4), np.float32)
    for name, dep in (("HB00001.015", "17"), ("HB00002.017", "15")):
        header = {"TargetType": "t72_tank", "TargetSerNum": "132", "DesiredDepression": dep}
        (tmp_path / name).write_bytes(phoenix.write_phoenix(header, mag, mag))
    train, _ = build(tmp_path, "train")
    test, _ = build(tmp_path, "test")
    assert list(train) == ["HB00001.015"] and list(test) == ["HB00002.017"]


@pytest.mark.parametrize("parts,expected", [
    (("TRAIN", "17_DEG", "T72", "SN_132", "HB1.JPG"), ("T72", 17, "132", "train")),
    (("TARGETS", "TEST", "15_DEG", "BMP2", "SN_C21", "HB2.JPG"), ("BMP2", 15, "C21", "test")),
    (("test", "ZSU_23_4", "HB3.png"), ("ZSU234", None, "", "test")),
])
def test_converted_trees_are_read_from_folder_names(parts, expected):
    facts = mstar._folder_facts(parts)
    assert facts == expected
    label, depression, serial, default = facts
    split, why = mstar.soc_split(label, depression, serial, default)
    assert (split, bool(why)) == (("", True) if serial == "C21" else (default, False))


def test_phoenix_sig_size_is_checked():
    mag = np.ones((4, 4), np.float32)
    data = phoenix.write_phoenix({"TargetType": "t72_tank"}, mag, mag)
    header = phoenix.parse_header(data)
    assert int(header["PhoenixSigSize"]) == len(data)  # as in the real chips
    offset = int(header["PhoenixHeaderLength"])
    two_byte = data.replace(f"PhoenixSigSize= {len(data):08d}".encode(), f"PhoenixSigSize= {offset + 64:08d}".encode())
    with pytest.raises(phoenix.PhoenixError, match="2-byte samples"):
        phoenix.read_phoenix(two_byte)
