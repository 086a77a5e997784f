"""The train step with `data.captions_per_image = K`: text (B, K, L), one image forward, each
image's K captions its positives; against a plain form of that loss written out here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sarclip_jax import sharding
from sarclip_jax.losses import clip_loss
from sarclip_jax.models import create_model, flops, get_model_config
from sarclip_jax.train import train_state as state_lib
from sarclip_jax.train import trainer
from sarclip_jax.train.step import StepConfig, loss_and_grads, make_encode, make_loss_on_features
from tests import train_harness

B, K = 16, 3


def _batch():
    recs = train_harness.records()[:B * K]
    text = np.stack([r["text"] for r in recs]).reshape(B, K, -1)  # K distinct captions per image
    return {"image": np.stack([r["image"] for r in recs[:B]]), "text": text}


def _labels():
    group = np.arange(B) % 3
    return np.stack([group * 5 + 2, group], axis=1).astype(np.int32)


def _params():
    return nnx.to_pure_dict(nnx.state(create_model(get_model_config("tiny"), seed=1), nnx.Param))


def plain_loss(img, txt, logit_scale):
    """img (B, D), txt (B, K, D): each image against all B*K captions with its K as the uniform
    target, each caption against the B images; plus log(K)/2, what K equal copies of each image
    add to the captions' side of the loss the step computes."""
    b, k, d = txt.shape
    scale = jnp.minimum(jnp.exp(logit_scale), 100.0)
    flat = txt.reshape(b * k, d)
    i2t = jax.nn.log_softmax(scale * img @ flat.T, axis=1).reshape(b, b, k)[jnp.arange(b), jnp.arange(b)]
    t2i = jax.nn.log_softmax(scale * flat @ img.T, axis=1)[jnp.arange(b * k), jnp.repeat(jnp.arange(b), k)]
    return 0.5 * (-i2t.mean() - t2i.mean() + jnp.log(k))


def _step_loss(cfg, batch, ids=None, accum=1):
    graphdef, _ = state_lib.abstract_params(get_model_config("tiny"))
    encode, loss_fn = make_encode(graphdef), make_loss_on_features(cfg, None)
    run = jax.jit(lambda p, k: loss_and_grads(encode, loss_fn, p, batch["image"], batch["text"], accum, k))
    return run(_params(), ids or {}), encode


def test_k_captions_loss_and_gradient_equal_the_plain_form():
    batch = _batch()
    ((loss, metrics), grads), encode = _step_loss(StepConfig(captions_per_image=K), batch)

    def reference(p):
        img, txt = encode(p, batch["image"], batch["text"])
        assert txt.shape == (B, K, img.shape[-1])
        return plain_loss(img, txt, p["logit_scale"])

    expected, expected_grads = jax.jit(jax.value_and_grad(reference))(_params())
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(expected_grads)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # In-batch accuracy: an image's top caption is one of its K; a caption's top image is its own.
    img, txt = jax.jit(encode)(_params(), batch["image"], batch["text"])
    sims = np.asarray(img) @ np.asarray(txt).reshape(B * K, -1).T
    np.testing.assert_allclose(metrics["image_to_text_accuracy"], np.mean(sims.argmax(1) // K == np.arange(B)))
    np.testing.assert_allclose(metrics["text_to_image_accuracy"],
                               np.mean(sims.argmax(0) == np.repeat(np.arange(B), K)))


def test_k_captions_sigmoid_loss_labels_every_pair_of_one_image_positive():
    model_cfg = get_model_config("tiny", init_logit_bias=-10.0)
    graphdef, _ = state_lib.abstract_params(model_cfg)
    params = nnx.to_pure_dict(nnx.state(create_model(model_cfg, seed=1), nnx.Param))
    batch = _batch()
    encode, loss_fn = make_encode(graphdef), make_loss_on_features(StepConfig(loss="siglip", captions_per_image=K), None)
    (loss, _), _ = jax.jit(lambda p: loss_and_grads(encode, loss_fn, p, batch["image"], batch["text"], 1))(params)
    img, txt = jax.jit(encode)(params, batch["image"], batch["text"])
    flat = np.asarray(txt).reshape(B * K, -1)
    logits = min(np.exp(float(params["logit_scale"])), 100.0) * np.asarray(img) @ flat.T + float(params["logit_bias"])
    signs = np.where(np.arange(B)[:, None] == np.arange(B * K)[None, :] // K, 1.0, -1.0)  # image i, its captions
    # Summed over the B x B*K pairs, over B: K copies of each image row, over B*K rows.
    expected = -np.sum(jax.nn.log_sigmoid(signs * logits)) / B
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_k_captions_with_the_label_term_and_accumulation():
    batch, labels = _batch(), _labels()
    cfg = StepConfig(captions_per_image=K, label_weight=0.5)
    ((loss, metrics), grads), encode = _step_loss(cfg, batch, {"label_ids": labels})
    img, txt = jax.jit(encode)(_params(), batch["image"], batch["text"])
    rows_img, rows_txt = np.repeat(np.asarray(img), K, axis=0), np.asarray(txt).reshape(B * K, -1)
    label_part = clip_loss(rows_img, rows_txt, _params()["logit_scale"], np.repeat(labels, K, axis=0))
    np.testing.assert_allclose(metrics["caption_loss"], plain_loss(img, txt, _params()["logit_scale"]), rtol=1e-5)
    np.testing.assert_allclose(metrics["label_loss"], label_part, rtol=1e-5)
    np.testing.assert_allclose(loss, metrics["caption_loss"] + 0.5 * label_part, rtol=1e-5)
    # Micro-batches (rows m, m+2, ...) give the same loss and gradient.
    ((loss2, _), grads2), _ = _step_loss(cfg, batch, {"label_ids": labels}, accum=2)
    np.testing.assert_allclose(loss2, loss, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(grads2), jax.tree.leaves(grads)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_k_captions_on_a_mesh_equal_one_device():
    batch, labels = _batch(), _labels()
    cfg = StepConfig(captions_per_image=K, label_weight=0.5)
    ((single, _), _), _ = _step_loss(cfg, batch, {"label_ids": labels})
    mesh = sharding.make_mesh(sharding.MeshConfig(8, 1, 1))
    t = trainer.build(get_model_config("tiny"), train_harness.config(10).optim, mesh, total_steps=10, step_cfg=cfg)
    state = t.init_state(seed=0, params=_params())
    batch["label_ids"] = labels
    _, m = t.train_step(state, {k: jax.device_put(v, t.batch_shardings[k]) for k, v in batch.items()})
    np.testing.assert_allclose(m["loss"], single, rtol=1e-5)
    one = dict(batch, text=batch["text"][:, 0])  # a batch of the wrong shape for this step
    with pytest.raises(ValueError, match="captions_per_image=3"):
        t.train_step(state, {k: jax.device_put(v, t.batch_shardings[k]) for k, v in one.items()})


def test_k_captions_refuse_text_positives_and_count_their_flops():
    with pytest.raises(ValueError, match="positives='text' with data.captions_per_image > 1"):
        StepConfig(captions_per_image=2, positives="text")
    cfg = get_model_config("tiny")
    one, three = flops.train_step_flops(cfg, 64), flops.train_step_flops(cfg, 64, 3)
    extra_text = 3 * 64 * 2 * 2 * flops.text_macs(cfg)  # two more captions per image, forward and backward
    assert three - one == extra_text + flops.loss_flops(cfg, 64, 3) - flops.loss_flops(cfg, 64)
