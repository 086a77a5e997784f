"""The train step with `loss.positives="text"` and `loss.label_weight`: caption and label ids
reach the fused loss."""

import jax
import numpy as np
import pytest
from flax import nnx

from sarclip_jax import sharding
from sarclip_jax.losses import clip_loss
from sarclip_jax.models import create_model, get_model_config
from sarclip_jax.train import train_state as state_lib
from sarclip_jax.train import trainer
from sarclip_jax.train.step import (
    StepConfig,
    loss_and_grads,
    make_encode,
    make_loss_on_features,
)
from tests import train_harness


def _batch(size=16, repeat=True):
    """Harness records; with `repeat` the second half's captions are the first half's again."""
    recs = train_harness.records()[:size]
    text = np.stack([r["text"] for r in recs])
    if repeat:
        text[size // 2:] = text[:size // 2]
    return {"image": np.stack([r["image"] for r in recs]), "text": text}


def _caption_ids(text_tokens):
    """One id per distinct token row (as the hash of the caption would give), as two int32."""
    _, group = np.unique(text_tokens, axis=0, return_inverse=True)
    group = group.reshape(-1).astype(np.int32)
    return np.stack([group * 7 + 1, group], axis=1).astype(np.int32), group


def _features_loss(cfg, batch, caption_ids, label_ids=None):
    graphdef, _ = state_lib.abstract_params(get_model_config("tiny"))
    params = nnx.to_pure_dict(nnx.state(create_model(get_model_config("tiny"), seed=1), nnx.Param))
    encode, loss_fn = make_encode(graphdef), make_loss_on_features(cfg, None)
    keys = {} if caption_ids is None else {"caption_ids": caption_ids}
    if label_ids is not None:
        keys["label_ids"] = label_ids
    run = jax.jit(lambda p, k: loss_and_grads(encode, loss_fn, p, batch["image"], batch["text"], 1, k))
    (loss, metrics), grads = run(params, keys)
    img, txt = jax.jit(encode)(params, batch["image"], batch["text"])
    return loss, metrics, grads, (img, txt, params["logit_scale"])


def test_text_positives_use_the_caption_ids():
    batch = _batch()
    ids, group = _caption_ids(batch["text"])
    assert len(set(group)) < len(group)  # the harness repeats captions
    loss, _, _, (img, txt, scale) = _features_loss(StepConfig(positives="text"), batch, ids)
    np.testing.assert_allclose(loss, clip_loss(img, txt, scale, ids), rtol=1e-5)
    pair_loss, *_ = _features_loss(StepConfig(positives="pair"), batch, ids)  # "pair" ignores the ids
    np.testing.assert_allclose(pair_loss, clip_loss(img, txt, scale), rtol=1e-5)


def test_distinct_ids_train_exactly_as_pairs():
    batch = _batch(repeat=False)
    distinct = np.stack([np.arange(16), np.arange(16) * 3], axis=1).astype(np.int32)
    a = _features_loss(StepConfig(positives="text"), batch, distinct)
    b = _features_loss(StepConfig(positives="pair"), batch, None)
    assert float(a[0]) == float(b[0])
    for x, y in zip(jax.tree.leaves(a[2]), jax.tree.leaves(b[2])):
        np.testing.assert_array_equal(x, y)


def test_text_positive_step_on_a_mesh_needs_caption_ids():
    mesh = sharding.make_mesh(sharding.MeshConfig(8, 1, 1))
    t = trainer.build(get_model_config("tiny"), train_harness.config(10).optim, mesh, total_steps=10,
                      step_cfg=StepConfig(positives="text"))
    batch = _batch()
    ids, _ = _caption_ids(batch["text"])
    state = t.init_state(seed=0)
    with pytest.raises(ValueError, match="caption_ids"):  # the batch lacks the field the step shards
        t.train_step(state, {k: jax.device_put(v, t.batch_shardings[k]) for k, v in batch.items()})
    batch["caption_ids"] = ids
    state, m = t.train_step(state, {k: jax.device_put(v, t.batch_shardings[k]) for k, v in batch.items()})
    assert bool(m["ok"]) and np.isfinite(float(m["loss"]))


def _label_ids(size=16, classes=3):
    group = np.arange(size) % classes
    return np.stack([group * 5 + 2, group], axis=1).astype(np.int32)


@pytest.mark.parametrize("positives", ["pair", "text"])
def test_label_term_adds_the_label_group_loss(positives):
    batch = _batch()
    ids, _ = _caption_ids(batch["text"])
    labels = _label_ids()
    cfg = StepConfig(positives=positives, label_weight=0.5)
    loss, metrics, grads, (img, txt, scale) = _features_loss(cfg, batch, ids, labels)
    first = clip_loss(img, txt, scale, ids if positives == "text" else None)
    np.testing.assert_allclose(metrics["caption_loss"], first, rtol=1e-5)
    np.testing.assert_allclose(metrics["label_loss"], clip_loss(img, txt, scale, labels), rtol=1e-5)
    np.testing.assert_allclose(loss, first + 0.5 * clip_loss(img, txt, scale, labels), rtol=1e-5)
    # The temperature's gradient, through the features as the step takes it, against the reference's.
    d_scale = jax.grad(lambda s: clip_loss(img, txt, s, ids if positives == "text" else None)
                       + 0.5 * clip_loss(img, txt, s, labels))(scale)
    np.testing.assert_allclose(grads["logit_scale"], d_scale, rtol=1e-4, atol=1e-6)
    plain, _, plain_grads, _ = _features_loss(StepConfig(positives=positives), batch, ids)
    assert float(loss) > float(plain)  # the label term is there, and its gradient too
    assert not np.allclose(grads["logit_scale"], plain_grads["logit_scale"])


def test_label_term_on_a_mesh_equals_one_device():
    batch = _batch()
    labels = _label_ids()
    cfg = StepConfig(label_weight=1.0)
    single, *_ = _features_loss(cfg, batch, None, labels)
    mesh = sharding.make_mesh(sharding.MeshConfig(8, 1, 1))
    t = trainer.build(get_model_config("tiny"), train_harness.config(10).optim, mesh, total_steps=10, step_cfg=cfg)
    assert set(t.batch_shardings) == {"image", "text", "label_ids"}
    params = nnx.to_pure_dict(nnx.state(create_model(get_model_config("tiny"), seed=1), nnx.Param))
    state = t.init_state(seed=0, params=params)  # the parameters _features_loss starts from
    with pytest.raises(ValueError, match="label_ids"):
        t.train_step(state, {k: jax.device_put(v, t.batch_shardings[k]) for k, v in batch.items()})
    batch["label_ids"] = labels
    _, m = t.train_step(state, {k: jax.device_put(v, t.batch_shardings[k]) for k, v in batch.items()})
    np.testing.assert_allclose(m["loss"], single, rtol=1e-5)
    with pytest.raises(ValueError, match="label_weight must be >= 0"):
        StepConfig(label_weight=-1.0)
