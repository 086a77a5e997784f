"""TFDS builders on their dummy_data fixtures: written as array_record, read with tfds.data_source,
with no TensorFlow installed; bad records skipped and reported, all-bad sources refused."""

import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from etils import epath

from sarclip_jax.cli import main as cli
from sarclip_jax.data import sar_readers
from tfds_sarclip import report as report_lib
from tfds_sarclip.sar_zeroshot import sar_zeroshot_dataset_builder as zeroshot_builder
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

FIXTURES = epath.Path(sarclip1m.__file__).parent / "dummy_data"
ZEROSHOT_FIXTURES = epath.Path(zeroshot_builder.__file__).parent / "dummy_data"


def build(builder_cls, config, data_dir, manual_dir=None):
    builder = builder_cls(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(file_format="array_record",
                                 download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def read_all(builder, split):
    source = tfds.data_source(builder.info.full_name.rsplit("/", 1)[0], split=split, data_dir=builder._data_dir_root)
    return [source[i] for i in range(len(source))]


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def test_no_tensorflow_is_installed_or_imported(tmp_path):
    build(sarclip1m.Builder, sarclip1m.synthetic_config(4, 2, 2, image_size=32), tmp_path)
    assert importlib.util.find_spec("tensorflow") is None
    assert "tensorflow" not in sys.modules


def test_synthetic_builds_reads_back_and_is_deterministic(tmp_path):
    cfg = sarclip1m.synthetic_config(num_train=24, num_validation=6, num_test=6, image_size=64, seed=3,
                                     float_fraction=0.5)
    first = build(sarclip1m.Builder, cfg, tmp_path / "a")
    assert {s: first.info.splits[s].num_examples for s in ("train", "validation", "test")} == {
        "train": 24, "validation": 6, "test": 6}
    records = read_all(first, "train")
    formats = set()
    for r in records:
        image = sar_readers.decode_image_bytes(r["image"])
        assert image.shape == (64, 64) and str(image.dtype) == text(r["image_dtype"])
        formats.add((text(r["image_format"]), text(r["scale"])))
        assert len(r["captions"]) == 5 and all(c.strip() for c in map(text, r["captions"]))
        boxes = np.asarray(r["objects"]["bbox"])
        assert boxes.shape[1] == 4 and np.all((0 <= boxes) & (boxes <= 1))
        assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
        assert text(r["label"]) == text(r["objects"]["label"][0])
        assert text(r["background"]) in ("sea", "farmland", "forest", "desert")
    assert formats == {("png", "display"), ("tiff", "intensity")}  # both radiometries are exercised
    # same seed, another directory: identical records; another seed: different ones
    again = {text(r["image_id"]): r for r in read_all(build(sarclip1m.Builder, cfg, tmp_path / "b"), "train")}
    for r in records:
        twin = again[text(r["image_id"])]
        assert twin["image"] == r["image"] and list(twin["captions"]) == list(r["captions"])
    other = sarclip1m.synthetic_config(num_train=24, num_validation=6, num_test=6, image_size=64, seed=4,
                                       float_fraction=0.5)
    other_records = {text(r["image_id"]): r for r in read_all(build(sarclip1m.Builder, other, tmp_path / "c"), "train")}
    assert sum(other_records[text(r["image_id"])]["image"] == r["image"] for r in records) == 0
    report = report_lib.read_report(first.data_dir)
    assert report["sources"]["synthetic"]["kept"] == {"train": 24, "validation": 6, "test": 6}
    # The label statistics of the report equal a count over the records read back.
    from sarclip_jax.data import label_ambiguity
    from sarclip_jax.data.records import object_labels_of

    for split in ("train", "test"):
        expected = label_ambiguity.label_ambiguity((text(r["label"]), object_labels_of(r))
                                                   for r in read_all(first, split))
        assert report["labels"][split] == expected == report["sources"]["synthetic"]["labels"][split]
        assert expected["records"] == {"train": 24, "test": 6}[split]


def test_synthetic_splits_are_disjoint(tmp_path):
    b = build(sarclip1m.Builder, sarclip1m.synthetic_config(12, 12, 12, image_size=32), tmp_path)
    images = {split: {r["image"] for r in read_all(b, split)} for split in ("train", "validation", "test")}
    assert not images["train"] & images["test"] and not images["train"] & images["validation"]


def test_release_keeps_good_records_and_reports_each_bad_one(tmp_path):
    b = build(sarclip1m.Builder, "release", tmp_path, FIXTURES / "release")
    train = {text(r["image_id"]): r for r in read_all(b, "train")}
    test = {text(r["image_id"]): r for r in read_all(b, "test")}
    assert sorted(train) == ["data/train/a.png", "data/train/c.jpg", "home/author/SARCLIP/data/train/b.tif"]
    assert sorted(test) == ["data/retrieval/001.tif", "data/retrieval/002.png"]
    # captions grouped per image; CSV quoting honoured
    assert [text(c) for c in train["data/train/a.png"]["captions"]] == ["two ships in the upper left .",
                                                                        "ships near the coast ."]
    assert [text(c) for c in train["data/train/c.jpg"]["captions"]] == ["a vehicle, parked in the centre ."]
    # radiometry kept: float dual-pol GeoTIFF stays float32 amplitude, 8-bit stays uint8 display,
    # the JPEG keeps its original bytes
    b_tif = train["home/author/SARCLIP/data/train/b.tif"]
    assert (text(b_tif["scale"]), text(b_tif["image_dtype"]), int(b_tif["bands"])) == ("amplitude", "float32", 2)
    original = (FIXTURES / "release/data/train/b.tif").read_bytes()
    np.testing.assert_array_equal(sar_readers.decode_image_bytes(b_tif["image"]),
                                  sar_readers.decode_image_bytes(original))
    assert train["data/train/c.jpg"]["image"] == (FIXTURES / "release/data/train/c.jpg").read_bytes()
    assert text(test["data/retrieval/001.tif"]["scale"]) == "display"
    report = report_lib.read_report(b.data_dir)["sources"]["sarclip1m"]
    assert report["skipped"] == {"train": {"empty_caption": 1, "held_out_in_test": 1, "missing_file": 1,
                                           "unreadable_image": 1, "wrong_band_count": 1}}
    assert any("cut.png" in e for e in report["examples"]["unreadable_image"])
    assert report["kept"] == {"train": 3, "test": 2}


def test_a_source_whose_every_record_is_bad_fails_and_is_named(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(FIXTURES / "release", manual)
    shutil.rmtree(manual / "data")  # every image is now missing
    with pytest.raises(report_lib.AllRecordsBadError, match="sarclip1m"):
        build(sarclip1m.Builder, "release", tmp_path / "out", manual)
    failed = json.loads((tmp_path / "out/sarclip1m/release/build_report.failed.json").read_text())
    assert failed["sources"]["sarclip1m"]["kept_total"] == 0
    assert not (tmp_path / f"out/sarclip1m/release/{sarclip1m.Builder.VERSION}").exists()  # nothing half-built is left


def test_zeroshot_imagefolder_classes_from_folders(tmp_path):
    b = build(zeroshot_builder.Builder, "mstar_soc", tmp_path, ZEROSHOT_FIXTURES)
    names = b.info.features["label"].names
    assert names == ["2S1", "BRDM_2", "T72"]
    records = read_all(b, "test")
    by_class = {}
    for r in records:
        by_class.setdefault(names[r["label"]], []).append(r)
    assert {k: len(v) for k, v in by_class.items()} == {"2S1": 2, "BRDM_2": 2, "T72": 3}
    raw = [r for r in by_class["T72"] if text(r["image_id"]).endswith(".015")]
    assert len(raw) == 1 and text(raw[0]["scale"]) == "amplitude" and text(raw[0]["image_dtype"]) == "float32"
    skipped = report_lib.read_report(b.data_dir)["sources"]["mstar_soc"]["skipped"]
    assert skipped == {"test": {"not_an_image": 1, "unreadable_image": 1}}
    source = tfds.data_source("sar_zeroshot/mstar_soc", split="test", data_dir=str(tmp_path))
    assert source.dataset_info.features["label"].names == names


def test_cli_builds_synthetic_with_sizes_and_refuses_all_bad_sources(tmp_path, capsys):
    rc = cli(["data", "build", "sarclip1m/synthetic_tiny", "--num_train", "10", "--num_validation", "2",
              "--num_test", "3", "--image_size", "48", "--data_dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "train: 10 examples" in out and "test: 3 examples" in out and "kept 15" in out
    assert (tmp_path / f"sarclip1m/synthetic_10_2_3_48px_s0_f25/{sarclip1m.Builder.VERSION}").exists()
    rc = cli(["data", "info", "sarclip1m/synthetic_tiny", "--num_train", "10", "--num_validation", "2",
              "--num_test", "3", "--image_size", "48", "--data_dir", str(tmp_path), "--show"])
    out = capsys.readouterr().out
    assert rc == 0 and "train: 10 examples" in out and "first record" in out
    assert "expected false negatives per batch (same caption text, counted as negatives)" in out
    assert "hold another class with as many objects as their label, or more" in out
    assert "a classifier that reads every object right scores" in out
    rc = cli(["data", "info", "sarclip1m/synthetic_tiny", "--data_dir", str(tmp_path)])
    assert rc == 1 and "not built" in capsys.readouterr().out  # the default tiny sizes were not built
    manual = tmp_path / "manual"
    shutil.copytree(FIXTURES / "release", manual)
    shutil.rmtree(manual / "data")
    rc = cli(["data", "build", "sarclip1m/release", "--manual_dir", str(manual), "--data_dir", str(tmp_path)])
    assert rc == 2 and "sarclip1m" in capsys.readouterr().err


def test_imagefolder_with_split_folders(tmp_path):
    from sarclip_jax.data.formats import imagefolder

    png = sar_readers.encode_png(np.full((8, 8), 9, np.uint8))
    for rel in ("train/ship/a.png", "test/ship/b.png", "test/tank/c.png", "test/.hidden/d.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png)
    root = epath.Path(tmp_path)
    assert sorted(imagefolder.layout(root)) == ["test", "train"]
    assert imagefolder.class_names(root) == ["ship", "tank"]
    assert [(c, p.name) for c, p in imagefolder.files(root / "test")] == [("ship", "b.png"), ("tank", "c.png")]


def test_a_new_synthetic_name_is_built_with_the_given_sizes(tmp_path):
    from sarclip_jax.cli import data as data_cli
    from sarclip_jax.data import pipeline

    b = data_cli.make_builder("sarclip1m/synthetic_smoke", str(tmp_path), {"num_train": 6, "num_validation": 2,
                                                                          "num_test": 3, "image_size": 32})
    b.download_and_prepare(file_format="array_record")
    assert b.info.full_name == f"sarclip1m/synthetic_smoke/{sarclip1m.Builder.VERSION}"
    source = pipeline.data_source(pipeline.PipelineConfig(dataset="sarclip1m/synthetic_smoke", data_dir=str(tmp_path)))
    assert len(source) == 6 and int(source[0]["height"]) == 32
    with pytest.raises(SystemExit, match="unknown config"):
        data_cli.make_builder("sarclip1m/releases", str(tmp_path))
