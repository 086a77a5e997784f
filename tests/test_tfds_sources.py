"""sarclip1m/sources on the fixture trees in each source's own layout, and the parsers' pieces."""

import collections
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
from etils import epath

from sarclip_jax.data import sar_readers
from sarclip_jax.data.formats import mstar
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import fair_csar, fixtures, sarlang

SOURCES = epath.Path(sarclip1m.__file__).parent / "dummy_data" / "sources"


def text(v):
    return v.decode() if isinstance(v, bytes) else v


@pytest.fixture(scope="module")
def built(sources_build):
    b, d = sources_build, sources_build.data_dir_root
    records = {split: [tfds.data_source("sarclip1m/sources", split=split, data_dir=str(d))[i]
                       for i in range(b.info.splits[split].num_examples)] for split in b.info.splits}
    return b, records


def by_id(records):
    return {text(r["image_id"]): r for r in records}


def test_every_source_keeps_its_good_records_per_split(built):
    b, records = built
    counts = collections.defaultdict(dict)
    for split, recs in records.items():
        for source, n in collections.Counter(text(r["source"]) for r in recs).items():
            counts[source][split] = n
    assert dict(counts) == fixtures.EXPECTED
    report = report_lib.read_report(b.data_dir)["sources"]
    skipped = {s: {reason: n for per_split in e["skipped"].values() for reason, n in per_split.items()}
               for s, e in report.items() if e["skipped_total"]}
    assert skipped == fixtures.EXPECTED_SKIPS
    captions = report_lib.read_report(b.data_dir)["captions"]["train"]  # over all sources, as training mixes them
    assert captions["records"] == sum(n.get("train", 0) for n in fixtures.EXPECTED.values())
    assert report["sardet100k"]["captions"]["train"]["captions"] == 5 * fixtures.EXPECTED["sardet100k"]["train"]
    for source, entry in report.items():  # every skipped record comes with the reason a user can act on
        for reason, examples in entry["examples"].items():
            for example in examples:
                item, _, why = example.partition(": ")
                assert item and len(why.strip()) >= 10, (source, reason, example)


def test_official_test_sets_stay_out_of_train(built):
    _, records = built
    train_names = {epath.Path(text(r["image_id"])).name for r in records["train"]}
    test_names = {epath.Path(text(r["image_id"])).name for r in records["test"]}
    assert not train_names & test_names
    assert "0000777.jpg" in test_names  # SARDet-100K test image, also listed in SARLANG's training CSV
    for r in records["train"]:
        assert "15_DEG" not in text(r["image_id"]) and "elevDeg_017" not in text(r["image_id"])
    mstar_test = {text(r["label"]) for r in records["test"] if text(r["source"]) == "mstar"}
    assert mstar_test == {"D7", "ZSU234"}


def test_radiometry_of_each_source_is_kept(built):
    _, records = built
    train = by_id(records["train"])
    raw = train["MSTAR_PUBLIC_MIXED_TARGETS_CD1/17_DEG/COL2/SCENE1/BRDM_2/HB14931.000"]
    assert (text(raw["scale"]), text(raw["image_dtype"]), text(raw["label"])) == ("amplitude", "float32", "BRDM2")
    _, mag, _ = mstar.read_phoenix((SOURCES / "MSTAR" / text(raw["image_id"])).read_bytes())
    np.testing.assert_array_equal(sar_readers.decode_image_bytes(raw["image"]), mag)

    ship = next(r for k, r in train.items() if k.endswith("Cargo_x100_y200"))
    image = sar_readers.decode_image_bytes(ship["image"])
    assert image.shape == (25, 25, 2) and text(ship["polarisation"]) == "VV,VH" and text(ship["scale"]) == "intensity"
    vh_vv = sar_readers.read_image(next(SOURCES.glob("OpenSARShip_2.0/*/*/Patch_Cal/Cargo_x100_y200.tif")))
    np.testing.assert_array_equal(image, vh_vv[..., ::-1])

    fair = next(r for r in records["train"] if text(r["source"]) == "fair_csar")
    slc = sar_readers.decode_image_bytes(fair["image"])
    assert slc.dtype == np.complex64 and text(fair["scale"]) == "complex" and text(fair["polarisation"]) == "HH"
    mat = SOURCES / "FAIR-CSAR/VOC-SL/trainval/SLCMats" / f"{fixtures.FAIR_STEM}.mat"
    np.testing.assert_array_equal(slc, fair_csar.load_slc(mat))
    fair_test = next(r for r in records["test"] if text(r["source"]) == "fair_csar")
    assert text(fair_test["scale"]) == "complex" and text(fair_test["polarisation"]) == "VV"

    darwin = train["SARimages/SV_Darwin_-12.4278_130.8688.tif"]
    assert (text(darwin["scale"]), text(darwin["image_dtype"])) == ("amplitude", "float32")
    jpeg = train["JPEGImages/train/0000001.jpg"]
    assert jpeg["image"] == (SOURCES / "SARDet_100K/JPEGImages/train/0000001.jpg").read_bytes()


def test_generated_captions_follow_the_boxes(built):
    _, records = built
    train = by_id(records["train"])
    sardet = train["JPEGImages/train/0000001.jpg"]
    caps = [text(c) for c in sardet["captions"]]
    assert len(caps) == 5
    assert "three ships and one aircraft" in caps[1]
    assert "an aircraft in the lower right" in caps[2] or "one aircraft in the lower right" in caps[4]
    boxes = np.asarray(sardet["objects"]["bbox"])
    np.testing.assert_allclose(boxes[0], [2 / 32, 2 / 40, 6 / 32, 8 / 40], atol=1e-6)
    atr = next(r for r in records["train"] if text(r["source"]) == "atrnet_star")
    assert text(atr["label"]) == "Changfeng_Cheetah_CFA6473C" and "a medium SUV" in text(atr["captions"][0])
    np.testing.assert_allclose(np.asarray(atr["objects"]["bbox"])[0], [9 / 32, 8 / 32, 25 / 32, 22 / 32], atol=1e-6)
    nice = train["SARimages/France_Alpes-Maritimes_Nice_3.png"]
    assert [text(c) for c in nice["captions"]] == ["A coastal city with dense buildings, a harbour and a marina.",
                                                    "A coastal city."]


def test_absent_sources_are_skipped_with_a_message(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(SOURCES / "SAMPLE_dataset_public", manual / "SAMPLE_dataset_public")
    b = sarclip1m.Builder(config="sources", data_dir=str(tmp_path / "out"))
    b.download_and_prepare(file_format="array_record",
                           download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    assert b.info.splits["train"].num_examples == fixtures.EXPECTED["sample"]["train"]
    assert "validation" not in b.info.splits
    messages = report_lib.read_report(b.data_dir)["messages"]
    assert any(m.startswith("mstar: not found") for m in messages)
    assert any(m.startswith("sardet100k: not found") for m in messages)


def test_a_source_with_only_bad_records_fails_by_name(tmp_path):
    manual = tmp_path / "manual"
    cd = manual / "MSTAR" / "CD"
    cd.mkdir(parents=True)
    chip = mstar.write_phoenix({"TargetType": "t72_tank", "DesiredDepression": "17"},
                               np.ones((8, 8), np.float32), np.zeros((8, 8), np.float32))
    (cd / "HB00001.015").write_bytes(chip[:-50])
    shutil.copytree(SOURCES / "SAMPLE_dataset_public", manual / "SAMPLE_dataset_public")
    b = sarclip1m.Builder(config="sources", data_dir=str(tmp_path / "out"))
    with pytest.raises(report_lib.AllRecordsBadError, match="mstar"):
        b.download_and_prepare(file_format="array_record",
                               download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))


# --- parser pieces ------------------------------------------------------------------------------------

def test_phoenix_chips_are_big_endian_magnitude_then_phase():
    mag = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    phase = np.full((2, 2), 0.5, np.float32)
    data = mstar.write_phoenix({"TargetType": "bmp2_tank", "DesiredDepression": "15"}, mag, phase)
    header = mstar.parse_header(data)
    offset = int(header["PhoenixHeaderLength"])
    assert data[offset:offset + 4] == b"\x3f\x80\x00\x00"  # 1.0 as big-endian float32
    assert data[:offset].rstrip().endswith(b"[EndofPhoenixHeader]")
    _, m, p = mstar.read_phoenix(data)
    np.testing.assert_array_equal(m, mag)
    np.testing.assert_array_equal(p, phase)
    with pytest.raises(mstar.PhoenixError, match="truncated"):
        mstar.read_phoenix(data[:-1])


@pytest.mark.parametrize("name,expected", [("t72_tank", "T72"), ("zsu23-4_gun", "ZSU234"), ("ZSU_23_4", "ZSU234"),
                                           ("BTR_60", "BTR60"), ("brdm2_truck", "BRDM2"), ("2s1_gun", "2S1"),
                                           ("d7_bulldozer", "D7"), ("slicey", None), ("m1_tank", None)])
def test_mstar_class_names(name, expected):
    assert mstar.canonical_class(name) == expected


def test_dota_lines_skip_headers():
    parsed = fair_csar.parse_dota("imagesource:GF3\ngsd:1\n1 2 3 2 3 4 1 4 Warship 0\nbad line\n")
    assert parsed == [("Warship", [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 1.0, 4.0])]


def test_sarlang_columns_are_found_by_content(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("id,picture,answer\n1,a.png,a long caption about a port\n2,b.tif,short one\n")
    assert sarlang.read_pairs(epath.Path(f)) == [("a.png", "a long caption about a port"), ("b.tif", "short one")]
    f.write_text("id,text\n1,no image here\n")
    with pytest.raises(ValueError, match="image files"):
        sarlang.read_pairs(epath.Path(f))
