"""Multi-positive fused losses (caption ids): equal to the dense reference, and to today's loss
when every id is distinct."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType

from sarclip_jax.losses import (
    clip_loss,
    fused_clip_loss,
    fused_siglip_loss,
    in_batch_accuracy,
    siglip_loss,
)

MESHES = [None, (8, 1, 1), (2, 2, 2)]
# block None: the plain per-device rows. On 8 devices each holds 6 rows: block 16 -> one tile
# of 6 (a multiple), block 4 -> tiles of 4 and a padded one; on one device 48 = 3 x 16, not 5 x k.
BLOCKS = [None, 16, 5, 4]


def _mesh(shape):
    if shape is None:
        return None
    return jax.make_mesh(shape, ("data", "fsdp", "tensor"), axis_types=(AxisType.Auto,) * 3)


def _batch(batch=48, dim=24, n_texts=7, seed=0, jitter=0.2):
    """Images of a few classes, each image's caption drawn from `n_texts` templated sentences:
    captions repeat across images (and sit in different devices' shards). `jitter` makes the
    embeddings of equal-id captions differ a little (texts that normalise to the same id); with
    jitter=0 they are identical, as for captions of the same text."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, n_texts, batch)
    centres = rng.standard_normal((n_texts, dim))
    img = centres[label] + 1.5 * rng.standard_normal((batch, dim))
    txt = centres[label] + 0.3 * rng.standard_normal((n_texts, dim))[label] + jitter * rng.standard_normal((batch, dim))
    norm = lambda x: jnp.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), jnp.float32)
    # 64-bit ids as two int32 halves; the high halves collide on purpose, so both halves must match.
    hashes = rng.integers(-2**31, 2**31, (n_texts, 2)).astype(np.int32)
    hashes[:, 0] = 12345
    return norm(img), norm(txt), jnp.asarray(hashes[label])


def _distinct_ids(batch, seed=1):
    ids = np.random.default_rng(seed).choice(2**31 - 1, size=(batch, 2), replace=False).astype(np.int32)
    return jnp.asarray(ids)


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


SCALE = jnp.asarray(np.log(1 / 0.07), jnp.float32)
BIAS = jnp.asarray(-5.0, jnp.float32)


def _fused_clip(mesh, block, ids):
    return jax.jit(jax.value_and_grad(
        lambda i, t, s: fused_clip_loss(i, t, s, caption_ids=ids, mesh=mesh, block_size=block),
        argnums=(0, 1, 2), has_aux=True))


def _fused_siglip(mesh, block, ids):
    return jax.jit(jax.value_and_grad(
        lambda i, t, s, b: fused_siglip_loss(i, t, s, b, caption_ids=ids, mesh=mesh, block_size=block),
        argnums=(0, 1, 2, 3), has_aux=True))


def test_the_batch_has_duplicates_across_shards():
    img, txt, ids = _batch()
    counts = np.unique(np.asarray(ids), axis=0, return_counts=True)[1]
    assert counts.max() >= 5 and len(counts) == 7
    i2t, _ = in_batch_accuracy(img, txt, ids)
    i2t_pairs, _ = in_batch_accuracy(img, txt)
    assert float(i2t_pairs) < float(i2t)  # any positive counts: captions equal to the image's own score
    # The dense multi-positive references are not the one-positive losses on this batch.
    assert abs(float(clip_loss(img, txt, SCALE, ids)) - float(clip_loss(img, txt, SCALE))) > 0.01
    assert abs(float(siglip_loss(img, txt, SCALE, BIAS, ids)) - float(siglip_loss(img, txt, SCALE, BIAS))) > 0.5


@pytest.mark.parametrize("mesh_shape", MESHES)
@pytest.mark.parametrize("block", BLOCKS)
def test_multi_positive_clip_equals_dense_reference(mesh_shape, block):
    img, txt, ids = _batch()
    want, want_grads = jax.value_and_grad(clip_loss, argnums=(0, 1, 2))(img, txt, SCALE, ids)
    (got, metrics), got_grads = _fused_clip(_mesh(mesh_shape), block, ids)(img, txt, SCALE)
    assert _rel(got, want) < 1e-5
    for name, g, w in zip(("images", "texts", "logit_scale"), got_grads, want_grads):
        assert np.max(np.abs(w)) > 0, name
        assert _rel(g, w) < 1e-5, name
    i2t, t2i = in_batch_accuracy(img, txt, ids)
    assert float(metrics["image_to_text_accuracy"]) == float(i2t)
    assert float(metrics["text_to_image_accuracy"]) == float(t2i)


@pytest.mark.parametrize("mesh_shape", MESHES)
@pytest.mark.parametrize("block", BLOCKS)
def test_multi_positive_siglip_equals_dense_reference(mesh_shape, block):
    img, txt, ids = _batch(seed=2)
    want, want_grads = jax.value_and_grad(siglip_loss, argnums=(0, 1, 2, 3))(img, txt, SCALE, BIAS, ids)
    (got, metrics), got_grads = _fused_siglip(_mesh(mesh_shape), block, ids)(img, txt, SCALE, BIAS)
    assert _rel(got, want) < 1e-5
    for name, g, w in zip(("images", "texts", "logit_scale", "logit_bias"), got_grads, want_grads):
        assert np.max(np.abs(w)) > 0, name
        assert _rel(g, w) < 1e-5, name
    i2t, t2i = in_batch_accuracy(img, txt, ids)
    assert float(metrics["image_to_text_accuracy"]) == float(i2t)
    assert float(metrics["text_to_image_accuracy"]) == float(t2i)


@pytest.mark.parametrize("mesh_shape", [None, (8, 1, 1)])
@pytest.mark.parametrize("block", [None, 5])
def test_distinct_ids_give_todays_loss_exactly(mesh_shape, block):
    img, txt, _ = _batch(seed=3)
    ids = _distinct_ids(img.shape[0])
    mesh = _mesh(mesh_shape)
    (a, ma), ga = _fused_clip(mesh, block, ids)(img, txt, SCALE)
    (b, mb), gb = _fused_clip(mesh, block, None)(img, txt, SCALE)
    assert float(a) == float(b) and ma == mb
    for x, y in zip(ga, gb):
        np.testing.assert_array_equal(x, y)
    (a, ma), ga = _fused_siglip(mesh, block, ids)(img, txt, SCALE, BIAS)
    (b, mb), gb = _fused_siglip(mesh, block, None)(img, txt, SCALE, BIAS)
    assert float(a) == float(b) and ma == mb
    for x, y in zip(ga, gb):
        np.testing.assert_array_equal(x, y)
    # ... and the reference with distinct ids is the one-positive reference.
    assert float(clip_loss(img, txt, SCALE, ids)) == float(clip_loss(img, txt, SCALE))


def test_int64_ids_equal_int32_halves():
    img, txt, ids = _batch(seed=4)
    halves = np.asarray(ids).astype(np.int64)
    as64 = (halves[:, 0] << 32) | (halves[:, 1] & 0xFFFFFFFF)
    with jax.enable_x64(True):
        ids64 = jnp.asarray(as64, jnp.int64)
        assert ids64.dtype == jnp.int64
        got = fused_clip_loss(img, txt, SCALE, caption_ids=ids64, block_size=5)[0]
    want = fused_clip_loss(img, txt, SCALE, caption_ids=ids, block_size=5)[0]
    assert _rel(got, want) < 1e-6


def test_duplicate_captions_are_not_pushed_away_by_the_sigmoid_loss():
    """An image whose caption repeats elsewhere in the batch: the pair sigmoid loss pushes it
    away from the repeated caption (a -1 label), the multi-positive one pulls it closer."""
    img, txt, ids = _batch(seed=5, jitter=0.0)
    # Image 0 against another row that carries the same caption.
    j = int(np.nonzero(np.all(np.asarray(ids) == np.asarray(ids[0]), axis=1))[0][1])

    def pull(caption_ids):
        g = jax.grad(lambda t: fused_siglip_loss(img, t, SCALE, BIAS, caption_ids=caption_ids, block_size=5)[0])(txt)
        return -float(jnp.dot(g[j], img[0]))  # how far a gradient step moves caption j towards image 0

    # The labels of the repeated pairs turn from -1 to +1: the caption moves towards the images it
    # describes, image 0 among them, instead of away from them.
    assert pull(None) < 0 and pull(ids) - pull(None) > 0.1 * abs(pull(None))


@pytest.mark.parametrize("block", [None, 5])
def test_clip_with_identical_duplicate_embeddings_equals_the_pair_loss(block):
    """The property reference.clip_loss documents: the mean-over-positives form changes nothing
    when equal-id captions embed identically (the softmax merges identical columns already)."""
    img, txt, ids = _batch(seed=6, jitter=0.0)
    mesh = _mesh((8, 1, 1))
    (a, _), ga = _fused_clip(mesh, block, ids)(img, txt, SCALE)
    (b, _), gb = _fused_clip(mesh, block, None)(img, txt, SCALE)
    assert _rel(a, b) < 1e-6
    assert _rel(ga[0], gb[0]) < 1e-5 and _rel(ga[2], gb[2]) < 1e-5  # images, logit_scale
    # Texts: each copy's share differs, their sum (what the text tower's weights receive when the
    # copies are one embedding) does not.
    _, group = np.unique(np.asarray(ids), axis=0, return_inverse=True)
    per_group = lambda g: jax.ops.segment_sum(g, jnp.asarray(group.reshape(-1)), num_segments=group.max() + 1)
    assert _rel(per_group(ga[1]), per_group(gb[1])) < 1e-5
    assert _rel(ga[1], gb[1]) > 0.1


def test_caption_ids_of_the_wrong_length_are_refused():
    img, txt, ids = _batch()
    with pytest.raises(ValueError, match="caption_ids has 47 rows for a batch of 48"):
        fused_clip_loss(img, txt, SCALE, caption_ids=ids[:47])
