"""Paths named inside datasets (CSV `imgpath`, COCO `file_name`, caption CSVs) never lead out of
the dataset's root: absolute paths, `..` segments and links pointing out are bad records with
their own reason, and the file outside is never read."""

import json
import os

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from etils import epath

from sarclip_jax.data import sar_readers
from sarclip_jax.data.formats import paths
from sarclip_jax.evaluation import sources as eval_sources
from tfds_sarclip import features, release
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, sardet, sarlang

OUTSIDE = report_lib.OUTSIDE_ROOT


def png(value: int) -> bytes:
    return sar_readers.encode_png(np.full((16, 16), value, np.uint8))


@pytest.fixture
def tree(tmp_path):
    """tmp/outside/secret.png (never to be read) beside tmp/manual/, whose data/ holds good
    images and a link to the secret."""
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.png"
    secret.write_bytes(png(255))
    manual = tmp_path / "manual"
    (manual / "data").mkdir(parents=True)
    for i, name in enumerate(("ok.png", "ok2.png", "ok3.png")):
        (manual / "data" / name).write_bytes(png(10 + i))
    os.symlink(secret, manual / "data" / "link.png")
    return tmp_path, manual, secret


ESCAPES = ["../outside/secret.png", "data/../../outside/secret.png", "data/link.png"]


def csv_rows(secret):
    good = ["data/ok.png", "./data/../data/ok2.png", "/home/author/SARCLIP/data/ok3.png"]  # the last: found by suffix
    return good, ESCAPES + [str(secret)]


def test_release_build_reports_paths_leading_out_and_never_reads_them(tree):
    tmp, manual, secret = tree
    good, bad = csv_rows(secret)
    (manual / "train.csv").write_text("imgpath,caption\n" + "".join(f"{p},a scene .\n" for p in good + bad))
    builder = sarclip1m.Builder(config="release", data_dir=str(tmp / "tfds"))
    builder.download_and_prepare(file_format="array_record",
                                 download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    source = tfds.data_source("sarclip1m/release", split="train", data_dir=str(tmp / "tfds"))
    kept = [source[i] for i in range(len(source))]
    assert sorted(r["image_id"].decode() for r in kept) == ["data/../data/ok2.png", "data/ok.png",
                                                             "home/author/SARCLIP/data/ok3.png"]
    assert all(r["image"] != secret.read_bytes() for r in kept)
    report = report_lib.read_report(builder.data_dir)["sources"]["sarclip1m"]
    assert report["skipped"] == {"train": {OUTSIDE: 4}}
    assert all("leads outside" in e for e in report["examples"][OUTSIDE])


def test_release_records_name_each_escape(tree):
    _, manual, secret = tree
    good, bad = csv_rows(secret)
    csv = manual / "train.csv"
    csv.write_text("imgpath,caption\n" + "".join(f"{p},x\n" for p in good + bad))
    report = report_lib.BuildReport()
    raws = list(release.records([epath.Path(csv)], epath.Path(manual), "train", "amplitude", set(), report))
    assert len(raws) == len(good)
    assert report.skipped == {("sarclip1m", "train", OUTSIDE): len(bad)}
    shown = report.examples[("sarclip1m", OUTSIDE)]
    for path in bad:
        assert any(e.startswith(path) for e in shown), path


def test_eval_csv_skips_paths_leading_out(tree):
    _, manual, secret = tree
    good, bad = csv_rows(secret)
    csv = manual / "retrieval.csv"
    csv.write_text("filename\tcaption\n" + "".join(f"{p}\tx\n" for p in good + bad))
    cfg = ml_collections.ConfigDict({"csv": str(csv)})
    data = eval_sources.open_set(cfg, "captions")
    assert [item.key for item in data.items] == good
    assert sorted(data.skipped["path_outside_root"]) == sorted(bad)
    assert all(item.image.load()["image"] != secret.read_bytes() for item in data.items)
    # image_root widens what may be read: the secret's folder then counts as inside
    cfg = ml_collections.ConfigDict({"csv": str(csv), "image_root": str(secret.parent)})
    assert "../outside/secret.png" in [item.key for item in eval_sources.open_set(cfg, "captions").items]


def coco_tree(manual, secret):
    root = manual / "SARDet_100K"
    (root / "Annotations").mkdir(parents=True)
    images = root / "JPEGImages" / "train"
    images.mkdir(parents=True)
    (images / "ok.png").write_bytes(png(7))
    os.symlink(secret, images / "link.png")
    entries = ["ok.png", "../../../../outside/secret.png", str(secret), "link.png"]
    coco = {"images": [{"id": i, "file_name": f, "width": 16, "height": 16} for i, f in enumerate(entries)],
            "annotations": [{"id": i, "image_id": i, "bbox": [2, 2, 8, 8], "category_id": 1} for i in range(4)],
            "categories": [{"id": 1, "name": "ship"}]}
    (root / "Annotations" / "train.json").write_text(json.dumps(coco))
    return root


def test_coco_file_names_leading_out_are_reported(tree):
    _, manual, secret = tree
    root = coco_tree(manual, secret)
    report = report_lib.BuildReport()
    kept = list(features.generate(sardet.records(epath.Path(root), "train", common.Options()), "train", report))
    assert [key for key, _ in kept] == ["sardet100k/JPEGImages/train/ok.png"]
    assert report.skipped == {("sardet100k", "train", OUTSIDE): 3}


def test_sarlang_image_links_leading_out_are_reported(tree):
    _, manual, secret = tree
    root = manual / "SARLANG-1M"
    (root / "SARimages").mkdir(parents=True)
    (root / "Text" / "caption").mkdir(parents=True)
    (root / "SARimages" / "ok.png").write_bytes(png(3))
    os.symlink(secret, root / "SARimages" / "link.png")
    # only the file name of a CSV path is used, so "../" cannot climb out; the link can
    (root / "Text" / "caption" / "Caption-training.csv").write_text(
        "img,caption\nok.png,a bright ship .\n../../outside/link.png,a scene .\n")
    report = report_lib.BuildReport()
    kept = list(features.generate(sarlang.records(epath.Path(root), "train", common.Options()), "train", report))
    assert [key for key, _ in kept] == ["sarlang1m/SARimages/ok.png"]
    assert report.skipped == {("sarlang1m", "train", OUTSIDE): 1}


def test_containment_rules():
    assert paths.is_inside("gs://bucket/data/a.png", ["gs://bucket/data"])
    assert not paths.is_inside("gs://bucket/data/../other/a.png", ["gs://bucket/data"])
    assert not paths.is_inside("/data2/a.png", ["/data"])  # a shared prefix is not containment
    with pytest.raises(paths.OutsideRootError, match="leads outside"):
        paths.join_inside(epath.Path("/data"), "..", "etc")


def test_walking_a_tree_with_a_link_loop_ends(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.png").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "a" / "loop")  # a/loop -> the root
    files = [str(p.relative_to(tmp_path)) for p in paths.walk_files(tmp_path)]
    assert files == ["a/f.png"]
