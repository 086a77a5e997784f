"""Zero-shot classification against OpenCLIP's own classifier construction (test-only reference):
the same random-weight model in both frameworks must give the same classifier, logits and metrics."""

import numpy as np
import pytest
import torch

from sarclip_jax import api
from sarclip_jax.convert import from_openclip
from sarclip_jax.convert.reference import open_clip
from sarclip_jax.evaluation.classification_metrics import classification_metrics
from sarclip_jax.models import get_model_config
from sarclip_jax.models.params import model_from_flat_params
from sarclip_jax.text.clip_bpe import ClipTokenizer
from sarclip_jax.text.prompts import MSTAR_CLASSES, SAR_TEMPLATES
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits
from tests.openclip_models import openclip_model, state_dict_numpy


def test_zero_shot_classifier_logits_and_metrics_match_openclip():
    oc = open_clip()
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    cfg = get_model_config("tiny")
    ref = openclip_model("custom", cfg, seed=11)
    model = model_from_flat_params(cfg, from_openclip(state_dict_numpy(ref), cfg))
    classes, templates = list(MSTAR_CLASSES), list(SAR_TEMPLATES)

    with torch.no_grad():
        ref_classifier = build_zero_shot_classifier(ref, oc.tokenize, classes, templates, num_classes_per_batch=4,
                                                    device="cpu").numpy()
    tokenizer = ClipTokenizer(context_length=cfg.text.context_length)
    classifier = build_classifier(lambda prompts: api.encode_text(model, prompts, tokenizer), classes, templates)
    assert classifier.shape == ref_classifier.shape == (cfg.embed_dim, len(classes))
    np.testing.assert_allclose(classifier, ref_classifier, atol=2e-5)

    rng = np.random.default_rng(11)
    images = rng.standard_normal((24, cfg.vision.image_size, cfg.vision.image_size, 3)).astype(np.float32)
    labels = rng.integers(0, len(classes), 24)
    with torch.no_grad():
        ref_image = ref.encode_image(torch.from_numpy(images.transpose(0, 3, 1, 2)), normalize=True).numpy()
    ref_logits = 100.0 * ref_image @ ref_classifier
    logits = zero_shot_logits(api.encode_image(model, images, batch_size=8), classifier)
    np.testing.assert_allclose(logits, ref_logits, atol=5e-3)

    ours, theirs = classification_metrics(logits, labels), classification_metrics(ref_logits, labels)
    np.testing.assert_array_equal(ours.predictions, theirs.predictions)
    assert ours.top_k == theirs.top_k and set(ours.top_k) == {1, 3, 5}
    np.testing.assert_array_equal(ours.confusion, theirs.confusion)
    assert ours.mean_per_class == pytest.approx(theirs.mean_per_class)
