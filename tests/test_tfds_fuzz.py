"""Fuzzing the annotation parsers with random and mutated release CSVs, caption CSVs and COCO
JSON (SARDet-100K): every row or image entry is kept or counted in the build report under a
known reason; the only other outcome is an AnnotationFileError naming the file; keys stay unique
(TFDS would stop the whole build on a duplicate) and no file outside the root is ever read."""

import csv
import io
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
from etils import epath
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarclip_jax.data import sar_readers
from tfds_sarclip import features, release
from tfds_sarclip import report as report_lib
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m
from tfds_sarclip.sources import common, sardet, sarlang

EXAMPLES = int(os.environ.get("SARCLIP_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REASONS = {report_lib.MISSING_FILE, report_lib.UNREADABLE, report_lib.EMPTY_CAPTION, report_lib.BAD_BANDS,
           report_lib.BAD_ANNOTATION, report_lib.OUTSIDE_ROOT, report_lib.DUPLICATE}


def png(value: int) -> bytes:
    return sar_readers.encode_png(np.full((12, 12), value, np.uint8))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    (base / "outside").mkdir()
    secret = base / "outside" / "secret.png"
    secret.write_bytes(png(255))
    manual = base / "manual"
    sar = manual / "SARDet_100K"
    for folder in (manual / "data", sar / "Annotations", sar / "JPEGImages" / "train"):
        folder.mkdir(parents=True)
    for folder in (manual / "data", sar / "JPEGImages" / "train"):
        (folder / "a.png").write_bytes(png(1))
        (folder / "b.png").write_bytes(png(2))
        (folder / "bad.png").write_bytes(png(3)[:40])
        os.symlink(secret, folder / "link.png")
    return manual, secret


def mutate_bytes(draw, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["truncate", "flip", "insert"]))
        if kind == "truncate":
            del data[pos:]
        elif kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        else:  # invalid UTF-8, NUL bytes, quotes and separators are the interesting insertions
            data[pos:pos] = draw(st.sampled_from([b"\xff", b"\xc3", b"\0", b'"', b",", b"\t", b"\n", b"\r"])
                                 | st.binary(max_size=8))
    return bytes(data)


def path_pool(secret):
    return st.sampled_from(["data/a.png", "./data/b.png", "data/bad.png", "data/link.png", "data/missing.png",
                            "../outside/secret.png", str(secret), "/home/u/data/a.png", "data/../data/a.png",
                            "data\\b.png", "", "data"]) | st.text(max_size=20)


@st.composite
def release_csvs(draw, secret) -> bytes:
    header = draw(st.sampled_from([("imgpath", "caption"), ("filename", "caption"), ("image", "text")])
                  | st.tuples(st.text(max_size=8), st.text(max_size=8)))
    sep = draw(st.sampled_from([",", "\t"]))
    rows = draw(st.lists(st.tuples(path_pool(secret), st.text(max_size=30)), max_size=8))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep)
    writer.writerow(header)
    writer.writerows(rows)
    return mutate_bytes(draw, buf.getvalue().encode("utf-8", "surrogatepass"))


def check_outcome(records, report, secret):
    """Consumes the records: kept examples have unique keys and none is the file outside."""
    kept = list(features.generate(records, "train", report))
    keys = [k for k, _ in kept]
    assert len(keys) == len(set(keys))
    assert all(ex["image"] != secret.read_bytes() for _, ex in kept)
    assert sum(report.kept.values()) == len(kept)
    assert {reason for _, _, reason in report.skipped} <= REASONS
    return kept


@FUZZ
@given(st.data())
def test_random_release_csvs_give_kept_or_reported_records(tree, data):
    manual, secret = tree
    path = manual / "train.csv"
    path.write_bytes(data.draw(release_csvs(secret)))
    report = report_lib.BuildReport()
    try:
        records = release.records([epath.Path(path)], epath.Path(manual), "train", "amplitude", set(), report)
        check_outcome(records, report, secret)
    except report_lib.AnnotationFileError as e:
        assert str(path) in str(e)


@st.composite
def coco_files(draw, secret) -> bytes:
    anything = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3), max_leaves=6)
    ids = st.integers(0, 4) | anything
    name = st.sampled_from(["a.png", "b.png", "bad.png", "link.png", "missing.png", "../../../../outside/secret.png",
                            str(secret), "", "sub/../a.png"]) | anything
    size = st.sampled_from([12, 0, -5, 1e9, float("nan"), float("inf"), "12", None]) | anything
    image = st.fixed_dictionaries({"id": ids, "file_name": name, "width": size, "height": size})
    number = st.integers(-20, 40) | st.floats() | anything
    annotation = st.fixed_dictionaries({"id": ids, "image_id": ids, "category_id": ids,
                                        "bbox": st.lists(number, min_size=3, max_size=5) | anything})
    category = st.fixed_dictionaries({"id": ids, "name": st.sampled_from(["ship", "tank", "", "harbor"]) | anything})
    coco = {"images": draw(st.lists(image, max_size=6)), "annotations": draw(st.lists(annotation, max_size=8)),
            "categories": draw(st.lists(category, max_size=3))}
    if draw(st.booleans()):  # junk in place of one of the three lists, or of the whole file
        coco[draw(st.sampled_from(sorted(coco)))] = draw(anything)
    if draw(st.integers(0, 9)) == 0:
        coco = draw(anything)
    return mutate_bytes(draw, json.dumps(coco).encode())


@FUZZ
@given(st.data())
def test_random_coco_files_give_kept_or_reported_records(tree, data):
    manual, secret = tree
    root = epath.Path(manual / "SARDet_100K")
    ann = root / "Annotations" / "train.json"
    ann.write_bytes(data.draw(coco_files(secret)))
    report = report_lib.BuildReport()
    try:
        kept = check_outcome(sardet.records(root, "train", common.Options()), report, secret)
    except report_lib.AnnotationFileError as e:
        assert str(ann) in str(e)
        return
    entries = len(json.loads(ann.read_bytes()).get("images", []))  # a missing list is an empty one
    assert len(kept) + sum(report.skipped.values()) == entries  # every image entry accounted for


@FUZZ
@given(st.data())
def test_random_caption_csvs_give_pairs_or_a_named_error(tree, data):
    manual, secret = tree
    path = epath.Path(manual / "caption.csv")
    path.write_bytes(data.draw(release_csvs(secret)))
    try:
        pairs = sarlang.read_pairs(path)
    except report_lib.AnnotationFileError as e:
        assert str(path) in str(e)
        return
    assert all(isinstance(a, str) and isinstance(b, str) for a, b in pairs)


# --- fixed cases the fuzzer found or the format invites -----------------------------------------

def test_one_path_spelled_two_ways_is_one_record(tree):
    manual, secret = tree
    path = manual / "train.csv"
    path.write_text("imgpath,caption\ndata/a.png,one .\n./data/a.png,two .\n")
    report = report_lib.BuildReport()
    kept = check_outcome(release.records([epath.Path(path)], epath.Path(manual), "train", "amplitude", set(),
                                         report), report, secret)
    assert [(k, list(ex["captions"])) for k, ex in kept] == [("sarclip1m/data/a.png", ["one .", "two ."])]


def test_a_coco_image_listed_twice_is_reported_as_a_duplicate(tree):
    manual, secret = tree
    root = epath.Path(manual / "SARDet_100K")
    images = [{"id": i, "file_name": "a.png", "width": 12, "height": 12} for i in (1, 2)]
    (root / "Annotations" / "train.json").write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    report = report_lib.BuildReport()
    kept = check_outcome(sardet.records(root, "train", common.Options()), report, secret)
    assert len(kept) == 1 and report.skipped == {("sardet100k", "train", report_lib.DUPLICATE): 1}


def test_bad_rows_are_counted_in_the_build_report_and_a_broken_coco_file_stops_the_build(tree, tmp_path):
    manual, _ = tree
    release_dir = tmp_path / "release"
    shutil.copytree(manual / "data", release_dir / "data", symlinks=True)
    (release_dir / "train.csv").write_bytes(b"imgpath,caption\ndata/a.png,fine .\ndata/\xff.png,bad bytes .\n"
                                            b"data/b.png,nul \0 caption is kept .\ndata/bad.png,cut .\n")
    builder = sarclip1m.Builder(config="release", data_dir=str(tmp_path / "out"))
    builder.download_and_prepare(file_format="array_record",
                                 download_config=tfds.download.DownloadConfig(manual_dir=str(release_dir)))
    report = report_lib.read_report(builder.data_dir)["sources"]["sarclip1m"]
    assert report["kept"] == {"train": 2}
    assert report["skipped"] == {"train": {report_lib.BAD_ANNOTATION: 1, report_lib.UNREADABLE: 1}}

    sources_dir = tmp_path / "sources"
    shutil.copytree(manual / "SARDet_100K", sources_dir / "SARDet_100K", symlinks=True)
    broken = sources_dir / "SARDet_100K" / "Annotations" / "train.json"
    broken.write_bytes(b'{"images": [{"id": 1, "file_name": "a.png"')  # truncated
    builder = sarclip1m.Builder(config="sources", data_dir=str(tmp_path / "out2"))
    with pytest.raises(report_lib.AnnotationFileError, match="train.json: not readable COCO JSON"):
        builder.download_and_prepare(file_format="array_record",
                                     download_config=tfds.download.DownloadConfig(manual_dir=str(sources_dir)))


def test_boxes_without_a_place_are_bad_annotations_before_captions_are_written():
    from tfds_sarclip import captions
    from tfds_sarclip.sources import common

    nan, inf = float("nan"), float("inf")
    for box in [(nan, nan, nan, nan), (0, 0, inf, inf), (-9, -9, -8, -8), ("a", 0, 1, 1)]:
        raw = common.record("t", epath.Path("/r"), "id", lambda: b"", seed=0, label="ship", objects=[("ship", box)])
        assert raw.problem and not raw.captions, box  # once a crash inside the caption writer
    assert captions.region_of((-0.9, 0.1, 0.05, 0.2)) == "upper left"  # centre above the image: top row
    assert captions.region_of((0.95, 0.9, 1.6, 1.2)) == "lower right"


def test_any_failure_of_a_records_loader_is_an_unreadable_record():
    def load():  # scipy.io.loadmat raises TypeError / ZeroDivisionError on some damaged .mat files
        raise ZeroDivisionError("division by zero")

    raw = features.RawRecord(source="t", image_id="x.mat", load=load, scale="complex", captions=["a ."])
    report = report_lib.BuildReport()
    assert list(features.generate([raw], "train", report)) == []
    assert report.skipped == {("t", "train", report_lib.UNREADABLE): 1}
    assert report.examples[("t", report_lib.UNREADABLE)] == ["x.mat: ZeroDivisionError: division by zero"]


def test_a_mat_file_that_crashes_scipy_is_a_bad_record_not_a_dead_build(tmp_path):
    import io

    import scipy.io
    from etils import epath

    from tfds_sarclip.sources.common import load_mat_complex

    buf = io.BytesIO()
    slc = (np.arange(64).reshape(8, 8) + 1j).astype(np.complex64)
    scipy.io.savemat(buf, {"slc": slc})
    good = tmp_path / "good.mat"
    good.write_bytes(buf.getvalue())
    np.testing.assert_array_equal(load_mat_complex(epath.Path(good)), slc)
    damaged = bytearray(buf.getvalue())
    damaged[441] = 0x08  # a damaged imaginary-part tag: scipy 1.17's reader segfaults on it
    bad = tmp_path / "bad.mat"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"bad.mat: "):
        load_mat_complex(epath.Path(bad))
    np.testing.assert_array_equal(load_mat_complex(epath.Path(good)), slc)  # the reader recovers
