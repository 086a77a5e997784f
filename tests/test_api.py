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
