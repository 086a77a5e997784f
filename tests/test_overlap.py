"""`sarclip data overlap` on a case whose answer is known: copies, re-encodings and crops of
training scenes planted in an evaluation folder are found, centre crops by the whole-view hash,
windows off the centre and a partly overlapping tile as shared regions at their offsets;
different scenes are not; the training pipeline leaves the found records out."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from sarclip_jax.cli import main as cli
from sarclip_jax.data import overlap, overlap_regions, records, sar_readers
from sarclip_jax.data import pipeline as P
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

N_TRAIN, N_TEST = 48, 24


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("overlap")
    builder = sarclip1m.Builder(config=sarclip1m.synthetic_config(N_TRAIN, 2, N_TEST, image_size=64, seed=9,
                                                                  float_fraction=0.3), data_dir=str(d / "tfds"))
    builder.download_and_prepare(file_format="array_record")
    name = builder.info.full_name.rsplit("/", 1)[0]
    train = P.data_source(P.PipelineConfig(dataset=name, data_dir=str(d / "tfds")), "train")
    test = P.data_source(P.PipelineConfig(dataset=name, data_dir=str(d / "tfds")), "test")
    pixels = [records.decode_image(train[i])[0] for i in range(N_TRAIN)]
    floats = [i for i, p in enumerate(pixels) if p.dtype == np.float32]
    bytes8 = [i for i, p in enumerate(pixels) if p.dtype == np.uint8]
    planted = {"copy_as_tiff.tif": floats[0], "jpeg_q70.jpg": bytes8[0], "centre_crop.png": bytes8[1]}
    folder = d / "eval" / "scenes"
    folder.mkdir(parents=True)
    (folder / "copy_as_tiff.tif").write_bytes(sar_readers.encode_tiff(pixels[floats[0]]))
    buf = io.BytesIO()
    Image.fromarray(pixels[bytes8[0]]).save(buf, "JPEG", quality=70)
    (folder / "jpeg_q70.jpg").write_bytes(buf.getvalue())
    img = pixels[bytes8[1]]
    cut = img.shape[0] // 20  # 5% off each side
    (folder / "centre_crop.png").write_bytes(sar_readers.encode_png(img[cut:-cut, cut:-cut]))
    # windows off the centre (kept pixels, a JPEG, a float TIFF) and a tile sharing part of a scene
    windows = {"corner_window.png": (bytes8[2], 2, 20, 40, 42), "shifted_q80.jpg": (bytes8[3], 24, 5, 40, 44),
               "float_window.tif": (floats[1], 10, 12, 40, 48)}
    for key, (i, y, x, h, w) in windows.items():
        part = pixels[i][y:y + h, x:x + w]
        if key.endswith(".jpg"):
            buf = io.BytesIO()
            Image.fromarray(part).save(buf, "JPEG", quality=80)
            (folder / key).write_bytes(buf.getvalue())
        else:
            (folder / key).write_bytes((sar_readers.encode_tiff if part.dtype == np.float32 else
                                        sar_readers.encode_png)(part))
    tile = records.decode_image(test[N_TEST - 1])[0].copy()  # another scene, 64 x 64 ...
    tile = (tile if tile.dtype == np.uint8 else np.full((64, 64), 90, np.uint8))[:56, :56].copy()
    tile[:40, :36] = pixels[bytes8[4]][24:64, 28:64]  # ... whose top-left 40 x 36 is a training scene's corner
    (folder / "tile_overlap.png").write_bytes(sar_readers.encode_png(tile))
    regions = {key: (i, [y, x]) for key, (i, y, x, _, _) in windows.items()}
    regions["tile_overlap.png"] = (bytes8[4], [24, 28])
    distinct = []
    for j in range(N_TEST - 1):
        p = records.decode_image(test[j])[0]
        if p.dtype == np.uint8 and len(distinct) < 6:
            (folder / f"other_{j}.png").write_bytes(sar_readers.encode_png(p))
            distinct.append(f"other_{j}.png")
    (d / "eval" / "scenes2").mkdir()
    (d / "eval" / "scenes2" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return dict(dir=d, name=name, planted=planted, regions=regions, distinct=distinct, train=train)


def test_planted_copies_are_found_and_other_scenes_are_not(case, tmp_path, capsys):
    d = case["dir"]
    rc = cli(["data", "overlap", "--train", case["name"], "--data_dir", str(d / "tfds"),
              "--eval", str(d / "eval"), "--out", str(tmp_path / "out")])
    assert rc == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "out/overlap.json").read_text())
    found = {p["eval_key"].rsplit("/", 1)[-1]: p for p in report["pairs"]}
    expected = case["planted"] | {k: i for k, (i, _) in case["regions"].items()}
    assert {k: p["train_index"] for k, p in found.items()} == expected
    assert "7 of 14 evaluation images have a copy" in out
    assert (found["copy_as_tiff.tif"]["kind"], found["copy_as_tiff.tif"]["distance"]) == ("exact", 0)
    assert found["jpeg_q70.jpg"]["kind"] == "near" and found["centre_crop.png"]["kind"] == "near"
    for key, (_, offset) in case["regions"].items():  # found where they were cut from
        assert (found[key]["kind"], found[key]["offset"]) == ("region", offset), found[key]
        assert found[key]["ncc"] >= overlap_regions.MIN_NCC
    assert found["corner_window.png"]["ncc"] == 1.0 and found["corner_window.png"]["shared"] == 1.0
    assert found["tile_overlap.png"]["shared"] == round(40 * 36 / 56 ** 2, 4)
    assert report["exclude"] == sorted(expected.values())
    assert report["counts"]["region_pairs"] == 4
    assert report["counts"]["eval_unreadable"] == 1 and "broken.png" in report["unreadable"]["eval"][0]
    assert report["method"]["threshold"] == overlap.NEAR_DISTANCE
    assert (tmp_path / "out/overlap.png").stat().st_size > 1000
    markdown = (tmp_path / "out/overlap.md").read_text()
    assert "near copies (perceptual hash distance <= 48 of 256 bits): 2 pairs" in markdown
    assert "shared regions (the same pixels at another window, >= 32 x 32 pixels, NCC >= 0.8): 4 pairs" in markdown
    assert "| region, NCC 1.00, 100% of the eval image |" in markdown


def test_without_regions_the_windows_off_the_centre_are_missed(case, tmp_path, capsys):
    d = case["dir"]
    assert cli(["data", "overlap", "--train", case["name"], "--data_dir", str(d / "tfds"), "--no_regions",
                "--eval", str(d / "eval"), "--out", str(tmp_path / "out")]) == 0
    assert "3 of 14 evaluation images have a copy" in capsys.readouterr().out
    report = json.loads((tmp_path / "out/overlap.json").read_text())
    assert sorted(report["exclude"]) == sorted(case["planted"].values())


def test_the_pipeline_leaves_the_found_records_out(case, tmp_path):
    d = case["dir"]
    assert cli(["data", "overlap", "--train", case["name"], "--data_dir", str(d / "tfds"),
                "--eval", str(d / "eval"), "--out", str(tmp_path / "out")]) == 0
    cfg = P.PipelineConfig(dataset=case["name"], data_dir=str(d / "tfds"), image_size=32,
                           augment=P.sar_augment.Augment(speckle_prob=0.0), exclude=str(tmp_path / "out/overlap.json"))
    left_out = P.excluded_indices(cfg, N_TRAIN)
    assert left_out.tolist() == sorted(set(case["planted"].values()) | {i for i, _ in case["regions"].values()})
    expected = {P.sar_transforms.image_for_model(case["train"][i], 32, cfg.radiometry, None).round(4).tobytes()
                for i in range(N_TRAIN) if i not in left_out}
    it = P.train_iterator(case["train"], cfg, 9, seed=0)
    seen = {img.round(4).tobytes() for _ in range(5) for img in next(it)["image"]}  # one epoch: 45 of 45
    assert seen == expected
    other = P.PipelineConfig(dataset="sarclip1m/another", exclude=str(tmp_path / "out/overlap.json"))
    with pytest.raises(ValueError, match="lists records of"):
        P.excluded_indices(other, N_TRAIN)
