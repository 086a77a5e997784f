"""The notebook API: load a checkpoint, encode images and texts, zero-shot probabilities."""

import numpy as np
import pytest
from PIL import Image

import sarclip_jax
from sarclip_jax import model_dir
from sarclip_jax.models import create_model, get_model_config
from sarclip_jax.zero_shot_classifier import build_classifier, classifier_from_text_embeddings


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    model_dir.save_model(create_model(get_model_config("tiny"), seed=7), path / "model")
    return path / "model"


def test_load_encode_and_zero_shot(tiny_dir, tmp_path):
    model, preprocess, tokenizer = sarclip_jax.load(tiny_dir)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (80, 100, 3), dtype=np.uint8) for _ in range(3)]
    Image.fromarray(arrays[0]).save(tmp_path / "a.png")
    inputs = [str(tmp_path / "a.png"), Image.fromarray(arrays[1]), arrays[2]]
    emb = sarclip_jax.encode_image(model, inputs, batch_size=2)  # 2 batches, the last one padded
    assert emb.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    # same result one at a time, and from preprocessed arrays
    one = sarclip_jax.encode_image(model, inputs[1:2])
    np.testing.assert_allclose(emb[1:2], one, rtol=1e-4, atol=1e-6)
    batch = np.stack([preprocess(x) for x in inputs])
    np.testing.assert_allclose(sarclip_jax.encode_image(model, batch), emb, rtol=1e-4, atol=1e-6)

    texts = ["a SAR image of a ship.", "two vehicles in the upper left."]
    t = sarclip_jax.encode_text(model, texts, tokenizer)
    np.testing.assert_allclose(t, sarclip_jax.encode_text(model, tokenizer(texts)), rtol=1e-6)

    classes = ["ship", "vehicle", "aircraft"]
    probs = sarclip_jax.zero_shot(model, inputs, classes, tokenizer, templates="sar")
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    # the same numbers from the parts: classifier, 100 x cosine, softmax
    clf = build_classifier(lambda p: sarclip_jax.encode_text(model, p, tokenizer), classes, "sar")
    logits = 100 * emb @ clf
    want = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, want / want.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_classifier_averages_normalised_template_embeddings():
    # class 0: templates (1,0) and (0,1) -> mean (0.5, 0.5) -> normalised (0.707, 0.707)
    emb = np.array([[[2.0, 0.0], [0.0, 5.0]], [[0.0, 3.0], [0.0, 1.0]]], np.float32)
    clf = classifier_from_text_embeddings(emb)
    np.testing.assert_allclose(clf[:, 0], [2 ** -0.5, 2 ** -0.5], rtol=1e-6)
    np.testing.assert_allclose(clf[:, 1], [0.0, 1.0], atol=1e-7)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match=r"needs model_name="):
        sarclip_jax.load(tmp_path / "weights.safetensors")
    with pytest.raises(ValueError, match=r"unknown template set 'radar'"):
        build_classifier(lambda p: np.ones((len(p), 2)), ["a"], "radar")
    with pytest.raises(ValueError, match=r"exactly one"):
        build_classifier(lambda p: np.ones((len(p), 2)), ["a"], ["no placeholder"])


# --- SAR files and arrays: prepared as the evaluators prepare them ------------------------------

def _evaluator_embedding(model, record):
    from sarclip_jax.data import sar_radiometry, sar_transforms
    from sarclip_jax.models import encode

    x = sar_transforms.image_for_model(record, model.config.vision.image_size, sar_radiometry.Radiometry())
    return np.asarray(encode.image_features(model, x[None]))


@pytest.fixture(scope="module")
def sar_files(tmp_path_factory):
    import tifffile

    from sarclip_jax.data.formats import mstar

    root = tmp_path_factory.mktemp("sar_files")
    rng = np.random.default_rng(3)
    amplitude = rng.gamma(1.0, 1.0, (70, 90)).astype(np.float32) * 0.1  # speckled clutter, |z|
    tifffile.imwrite(root / "s1_vv.tif", amplitude)
    tifffile.imwrite(root / "dual.tif", np.stack([amplitude, 0.3 * amplitude], -1),  # VV, VH
                     photometric="minisblack", planarconfig="contig")
    slc = (amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi, amplitude.shape))).astype(np.complex64)
    tifffile.imwrite(root / "slc.tif", slc)
    tifffile.imwrite(root / "u16.tif", rng.integers(0, 60000, (40, 50), dtype=np.uint16))
    phase = rng.uniform(-np.pi, np.pi, (54, 54)).astype(np.float32)
    (root / "HB03333.015").write_bytes(mstar.write_phoenix({"TargetType": "t72"}, amplitude[:54, :54], phase))
    pixels = rng.integers(0, 255, (60, 80), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "chip.png")
    return root, amplitude, slc, pixels


def test_sar_files_embed_as_the_evaluators_embed_them(tiny_dir, sar_files):
    from sarclip_jax.data.records import file_record

    root, *_ = sar_files
    model, preprocess, _ = sarclip_jax.load(tiny_dir)
    names = ["s1_vv.tif", "HB03333.015", "chip.png", "dual.tif", "slc.tif", "u16.tif"]
    paths = [root / n for n in names]
    emb = sarclip_jax.encode_image(model, paths, batch_size=4)  # two batches, the last one padded
    for path, e in zip(paths, emb, strict=True):
        np.testing.assert_allclose(e[None], _evaluator_embedding(model, file_record(path)), rtol=1e-5, atol=1e-6,
                                   err_msg=str(path))
        np.testing.assert_array_equal(preprocess(path), preprocess(str(path)))
    np.testing.assert_allclose(emb[4], emb[0], rtol=1e-4, atol=1e-5)  # the SLC's |z| is the amplitude image
    assert len({tuple(np.round(e, 4)) for e in emb[:4]} | {tuple(np.round(emb[5], 4))}) == 5  # each file as itself
    # load's preprocess is the same preparation
    np.testing.assert_allclose(sarclip_jax.encode_image(model, np.stack([preprocess(p) for p in paths])), emb,
                               rtol=1e-5, atol=1e-6)
    # float TIFFs are amplitude unless told otherwise, as in the evaluators
    as_db = sarclip_jax.encode_image(model, [root / "s1_vv.tif"], float_scale="db")
    np.testing.assert_allclose(as_db, _evaluator_embedding(model, file_record(root / "s1_vv.tif", "db")),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(as_db, emb[:1], atol=1e-3)
    # one path on its own is one image
    np.testing.assert_allclose(sarclip_jax.encode_image(model, str(root / "HB03333.015")), emb[1:2], atol=1e-6)


def test_arrays_with_their_scale_and_pil_images(tiny_dir, sar_files):
    import jax.numpy as jnp

    root, amplitude, slc, pixels = sar_files
    model, _, _ = sarclip_jax.load(tiny_dir)
    files = sarclip_jax.encode_image(model, [root / "s1_vv.tif", root / "slc.tif", root / "chip.png"])
    arrays = sarclip_jax.encode_image(model, [amplitude, jnp.asarray(amplitude)], scale="amplitude")
    np.testing.assert_allclose(arrays, files[[0, 0]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sarclip_jax.encode_image(model, [amplitude ** 2], scale="intensity"), files[:1],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sarclip_jax.encode_image(model, [slc]), files[1:2], rtol=1e-5, atol=1e-6)  # complex
    for image in (pixels, Image.fromarray(pixels), Image.fromarray(pixels).convert("RGBA")):
        np.testing.assert_allclose(sarclip_jax.encode_image(model, [image]), files[2:3], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"float image array needs its scale: pass scale="):
        sarclip_jax.encode_image(model, [amplitude])
    with pytest.raises(ValueError, match=r"image 1 .*needs its scale"):
        sarclip_jax.zero_shot(model, [pixels, amplitude], ["ship", "tank"])
    with pytest.raises(ValueError, match=r"preprocessed batch \(n, 64, 64, 3\), got shape \(2, 70, 90, 1\)"):
        sarclip_jax.encode_image(model, amplitude[None, ..., None].repeat(2, 0))
    with pytest.raises(ValueError, match=r"must be uint8 or uint16"):
        sarclip_jax.encode_image(model, [pixels.astype(np.int64)])
    with pytest.raises(FileNotFoundError, match=r"missing\.tif"):
        sarclip_jax.encode_image(model, [root / "missing.tif"])
    (root / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        sarclip_jax.encode_image(model, [root / "notes.txt"])


# --- one tokenizer per model ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sp_dir(tmp_path_factory):
    """A model directory whose text tower embeds the 64 ids of its own sentencepiece tokenizer."""
    import dataclasses
    import random

    from sarclip_jax.text.corpus import sar_caption
    from sarclip_jax.text.sentencepiece_tokenizer import train_sentencepiece

    root = tmp_path_factory.mktemp("sp")
    rng = random.Random(0)
    (root / "captions.txt").write_text("\n".join(sar_caption(rng) for _ in range(400)) + "\n")
    sp = train_sentencepiece([root / "captions.txt"], vocab_size=64, out_prefix=root / "sp64")
    cfg = get_model_config("tiny")
    cfg = cfg.replace(text=dataclasses.replace(cfg.text, vocab_size=64, eos_id=63))
    return model_dir.save_model(create_model(cfg, seed=1), root / "model", tokenizer=sp)


def test_a_model_directory_brings_its_own_tokenizer(sp_dir, tmp_path):
    from flax import nnx

    from sarclip_jax.models import encode
    from sarclip_jax.text.sentencepiece_tokenizer import SentencePieceTokenizer
    from sarclip_jax.text.tokenizer import build_tokenizer, tokenizer_for

    model, _, tokenizer = sarclip_jax.load(sp_dir.parent)  # a work directory holding model/
    assert isinstance(tokenizer, SentencePieceTokenizer) and tokenizer.vocab_size == 64
    assert model.tokenizer_spec == str(sp_dir / "tokenizer.model") and model.source == str(sp_dir)
    texts = ["two ships in the upper left.", "a SAR image of an oil tank."]
    own = sarclip_jax.encode_text(model, texts)  # no tokenizer given: the model's own
    np.testing.assert_allclose(own, sarclip_jax.encode_text(model, texts, tokenizer), rtol=1e-6)
    assert np.isfinite(own).all()
    # the model still knows its tokenizer after nnx.jit, nnx.split/merge and nnx.clone
    encode.text_features(model, tokenizer(texts))
    for copy in (nnx.merge(*nnx.split(model)), nnx.clone(model)):
        assert tokenizer_for(copy).model_path == model.tokenizer_spec
    # and a copy of the directory keeps it
    model_dir.save_model(model, tmp_path / "copy")
    assert (tmp_path / "copy" / "tokenizer.model").read_bytes() == (sp_dir / "tokenizer.model").read_bytes()

    message = rf"tokenizer 'clip' has 49408 ids but model {sp_dir}'s text tower embeds only 64"
    with pytest.raises(ValueError, match=message):
        sarclip_jax.load(sp_dir, tokenizer="clip")
    with pytest.raises(ValueError, match=message):
        sarclip_jax.encode_text(model, texts, "clip")
    clip_ids = build_tokenizer("clip")(texts)
    with pytest.raises(ValueError, match=rf"token ids range over \[0, 49407\] but model {sp_dir}'s text tower "
                                         r"embeds ids \[0, 64\)"):
        sarclip_jax.encode_text(model, clip_ids)
    with pytest.raises(ValueError, match=r"text tower embeds ids \[0, 64\)"):  # a bare callable, checked per call
        sarclip_jax.encode_text(model, texts, lambda t: clip_ids)


def test_evaluators_use_the_models_tokenizer_and_refuse_a_bigger_one(sp_dir):
    import pathlib

    from sarclip_jax.evaluation import build_evaluator
    from sarclip_jax.text.clip_bpe import ClipTokenizer

    folder = pathlib.Path(__file__).parents[1] / "tfds_sarclip" / "sar_zeroshot" / "dummy_data"
    model, _, tokenizer = sarclip_jax.load(sp_dir)
    entry = dict(folder=str(folder), class_names="mstar", batch_size=4)
    own = dict(build_evaluator("zero_shot", entry).run(model))
    assert own and all(np.isfinite(v) for v in own.values())
    assert own == dict(build_evaluator("zero_shot", entry, tokenizer=tokenizer).run(model))
    for forced in ({"tokenizer": "clip"}, {}):
        deps = {} if forced else {"tokenizer": ClipTokenizer()}
        with pytest.raises(ValueError, match=rf"tokenizer '.*' has 49408 ids but model {sp_dir}'s text tower"):
            build_evaluator("zero_shot", {**entry, **forced}, **deps).run(model)
