"""`sarclip data overlap` on a case whose answer is known: copies, re-encodings and crops of
training scenes planted in an evaluation folder are found; different scenes are not; the
training pipeline leaves the found records out."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from sarclip_jax.cli import main as cli
from sarclip_jax.data import overlap, records, sar_readers
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
    distinct = []
    for j in range(N_TEST):
        p = records.decode_image(test[j])[0]
        if p.dtype == np.uint8 and len(distinct) < 6:
            (folder / f"other_{j}.png").write_bytes(sar_readers.encode_png(p))
            distinct.append(f"other_{j}.png")
    (d / "eval" / "scenes2").mkdir()
    (d / "eval" / "scenes2" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return dict(dir=d, name=name, planted=planted, distinct=distinct, train=train)


def test_planted_copies_are_found_and_other_scenes_are_not(case, tmp_path, capsys):
    d = case["dir"]
    rc = cli(["data", "overlap", "--train", case["name"], "--data_dir", str(d / "tfds"),
              "--eval", str(d / "eval"), "--out", str(tmp_path / "out")])
    assert rc == 0
    assert "3 of 10 evaluation images have a copy" in capsys.readouterr().out
    report = json.loads((tmp_path / "out/overlap.json").read_text())
    found = {p["eval_key"].rsplit("/", 1)[-1]: (p["train_index"], p["kind"], p["distance"]) for p in report["pairs"]}
    assert {k: v[0] for k, v in found.items()} == case["planted"]
    assert found["copy_as_tiff.tif"][1:] == ("exact", 0)  # the same pixels in another format
    assert found["jpeg_q70.jpg"][1] == "near" and found["centre_crop.png"][1] == "near"
    assert report["exclude"] == sorted(case["planted"].values())
    assert report["counts"]["eval_unreadable"] == 1 and "broken.png" in report["unreadable"]["eval"][0]
    assert report["method"]["threshold"] == overlap.NEAR_DISTANCE
    assert (tmp_path / "out/overlap.png").stat().st_size > 1000
    assert "near copies (perceptual hash distance <= 48 of 256 bits): 2 pairs" in (tmp_path / "out/overlap.md").read_text()


def test_the_pipeline_leaves_the_found_records_out(case, tmp_path):
    d = case["dir"]
    assert cli(["data", "overlap", "--train", case["name"], "--data_dir", str(d / "tfds"),
                "--eval", str(d / "eval"), "--out", str(tmp_path / "out")]) == 0
    cfg = P.PipelineConfig(dataset=case["name"], data_dir=str(d / "tfds"), image_size=32,
                           augment=P.sar_augment.Augment(speckle_prob=0.0), exclude=str(tmp_path / "out/overlap.json"))
    left_out = P.excluded_indices(cfg, N_TRAIN)
    assert left_out.tolist() == sorted(case["planted"].values())
    expected = {P.sar_transforms.image_for_model(case["train"][i], 32, cfg.radiometry, None).round(4).tobytes()
                for i in range(N_TRAIN) if i not in left_out}
    it = P.train_iterator(case["train"], cfg, 9, seed=0)
    seen = {img.round(4).tobytes() for _ in range(5) for img in next(it)["image"]}  # one epoch: 45 of 45
    assert seen == expected
    other = P.PipelineConfig(dataset="sarclip1m/another", exclude=str(tmp_path / "out/overlap.json"))
    with pytest.raises(ValueError, match="lists records of"):
        P.excluded_indices(other, N_TRAIN)
