"""The fused losses equal the plain references in value and gradient, on 1 and 8 devices.

block=None lets the loss choose; at these sizes it takes the plain per-device rows (fused_dense),
an int forces the ring with that tile (fused_ring).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from sarclip_jax.losses import (
    clip_loss,
    fused_clip_loss,
    fused_siglip_loss,
    in_batch_accuracy,
    logit_scale_value,
    siglip_loss,
    tiling,
)

MESHES = [None, (1, 1, 1), (8, 1, 1), (2, 4, 1), (2, 2, 2)]


def _mesh(shape):
    if shape is None:
        return None
    return jax.make_mesh(shape, ("data", "fsdp", "tensor"), axis_types=(AxisType.Auto,) * 3)


def _pairs(batch, dim=24, noise=2.0, seed=0, dtype=np.float32):
    """Unit-norm image/text embeddings where text i resembles image i (so accuracies are not ~0)."""
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((batch, dim))
    txt = img + noise * rng.standard_normal((batch, dim))
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    return jnp.asarray(norm(img), dtype), jnp.asarray(norm(txt), dtype)


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("mesh_shape", MESHES)
@pytest.mark.parametrize("batch,block", [(48, 16), (48, 5), (64, 1024), (48, None)])
def test_fused_clip_loss_equals_reference(mesh_shape, batch, block):
    img, txt = _pairs(batch)
    scale = jnp.asarray(np.log(1 / 0.07), jnp.float32)
    mesh = _mesh(mesh_shape)
    want, want_grads = jax.value_and_grad(clip_loss, argnums=(0, 1, 2))(img, txt, scale)
    fused = jax.jit(jax.value_and_grad(
        lambda i, t, s: fused_clip_loss(i, t, s, mesh=mesh, block_size=block), argnums=(0, 1, 2), has_aux=True))
    (got, metrics), got_grads = fused(img, txt, scale)
    assert _rel(got, want) < 1e-5
    for name, g, w in zip(("images", "texts", "logit_scale"), got_grads, want_grads):
        assert np.max(np.abs(w)) > 0, name
        assert _rel(g, w) < 1e-5, name
    i2t, t2i = in_batch_accuracy(img, txt)
    assert 0.2 < float(i2t) < 1.0  # the test data is neither trivial nor random
    np.testing.assert_allclose(metrics["image_to_text_accuracy"], i2t)
    np.testing.assert_allclose(metrics["text_to_image_accuracy"], t2i)


@pytest.mark.parametrize("mesh_shape", MESHES)
@pytest.mark.parametrize("batch,block", [(48, 7), (32, 32), (48, None)])
def test_fused_siglip_loss_equals_reference(mesh_shape, batch, block):
    img, txt = _pairs(batch, seed=1)
    scale, bias = jnp.asarray(np.log(10.0), jnp.float32), jnp.asarray(-10.0, jnp.float32)
    mesh = _mesh(mesh_shape)
    want, want_grads = jax.value_and_grad(siglip_loss, argnums=(0, 1, 2, 3))(img, txt, scale, bias)
    fused = jax.jit(jax.value_and_grad(
        lambda i, t, s, b: fused_siglip_loss(i, t, s, b, mesh=mesh, block_size=block),
        argnums=(0, 1, 2, 3), has_aux=True))
    (got, _), got_grads = fused(img, txt, scale, bias)
    assert _rel(got, want) < 1e-5
    for name, g, w in zip(("images", "texts", "logit_scale", "logit_bias"), got_grads, want_grads):
        assert np.max(np.abs(w)) > 0, name
        assert _rel(g, w) < 1e-5, name


def _compiled_grad(fn, batch, dim, mesh=None, dtype=jnp.float32):
    sharding = None if mesh is None else NamedSharding(mesh, P(("data", "fsdp")))
    emb = jax.ShapeDtypeStruct((batch, dim), dtype, sharding=sharding)
    scale = jax.ShapeDtypeStruct((), jnp.float32)
    return jax.jit(jax.grad(fn, argnums=(0, 1, 2))).lower(emb, emb, scale).compile()


@pytest.mark.parametrize("mesh_shape,block", [(None, 256), ((8, 1, 1), None)])
def test_memory_does_not_grow_with_the_square_of_the_batch(mesh_shape, block):
    batch, dim = 4096, 64
    mesh = _mesh(mesh_shape)
    budget = 4 * 2**20  # small enough that the chosen computation is the ring
    fused = _compiled_grad(
        lambda i, t, s: fused_clip_loss(i, t, s, mesh=mesh, block_size=block, memory_bytes=budget)[0],
        batch, dim, mesh)
    hlo = fused.as_text()
    assert f"[{batch},{batch}]" not in hlo  # never the global logits, not even transiently
    b = batch // (1 if mesh is None else 8)
    tile = block or tiling.choose(b, 8, dim, 4, budget)
    assert tile != tiling.DENSE and f"[{b},{tile}]" in hlo  # the (B_local, block) tiles are there
    logits_bytes = batch * batch * 4
    reference = _compiled_grad(clip_loss, batch, dim)
    assert reference.memory_analysis().temp_size_in_bytes >= logits_bytes  # the reference holds B x B
    rows_bytes = logits_bytes // (batch // b)  # one device's rows of the logits
    temp = fused.memory_analysis().temp_size_in_bytes
    assert temp < rows_bytes / 3 and (block or temp <= budget)


@pytest.mark.parametrize("batch,dim,budget_mib", [(4096, 64, 64), (4096, 64, 8), (4096, 64, 2), (2048, 256, 4),
                                                  (16384, 128, 16)])
def test_chosen_tile_respects_the_memory_budget(batch, dim, budget_mib):
    mesh, budget = _mesh((8, 1, 1)), int(budget_mib * 2**20)
    choice = tiling.choose(batch // 8, 8, dim, 4, budget)
    fused = _compiled_grad(lambda i, t, s: fused_clip_loss(i, t, s, mesh=mesh, memory_bytes=budget)[0],
                           batch, dim, mesh)
    assert fused.memory_analysis().temp_size_in_bytes <= budget, choice
    if choice != tiling.DENSE:  # the widest tile that fits: twice as wide would not
        assert tiling.ring_bytes(batch // 8, 2 * choice, dim, 4) > budget or 2 * choice > batch // 8


def test_tile_choice():
    assert tiling.choose(128, 8, 512, 4) == tiling.DENSE  # global batch 1,024: the plain rows are cheaper
    assert tiling.choose(8192, 8, 512, 4) == 128  # 65,536 on 8 devices: narrow tiles
    assert tiling.choose(2048, 8, 512, 4) == 1024  # a divisor of the per-device batch, no padded tile
    assert tiling.choose(100, 8, 512, 4, memory_bytes=1) == 100  # nothing fits: one tile of B_local
    widths = [tiling.choose(8192, 8, 512, 4, m * 2**20) for m in (48, 64, 128, 256)]
    assert widths == sorted(widths) and widths[0] < widths[-1]  # more memory, wider tiles


def test_global_batch_65536_on_8_devices_fits_145_mib():
    """The bench's headline case (bench/loss_memory.py): arguments + gradients + temporaries."""
    mesh = _mesh((8, 1, 1))
    fused = _compiled_grad(lambda i, t, s: fused_clip_loss(i, t, s, mesh=mesh)[0], 65536, 512, mesh)
    mem = fused.memory_analysis()
    assert mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes <= 145 * 2**20
    assert "[65536,65536]" not in fused.as_text()


def test_bfloat16_inputs_accumulate_in_float32():
    img, txt = _pairs(256, seed=2)
    scale = jnp.asarray(np.log(1 / 0.07), jnp.float32)
    want = clip_loss(img, txt, scale)
    loss_fn = lambda i, t: fused_clip_loss(i, t, scale, block_size=64)[0]
    got, grads = jax.value_and_grad(loss_fn, argnums=(0, 1))(img.astype(jnp.bfloat16), txt.astype(jnp.bfloat16))
    assert got.dtype == jnp.float32
    assert grads[0].dtype == jnp.bfloat16
    assert _rel(got, want) < 1e-2


def test_extreme_scale_and_duplicated_embeddings_stay_finite():
    img, _ = _pairs(16, seed=3)
    dup = jnp.concatenate([img[:8], img[:8]])  # every image twice; texts identical to images
    huge = jnp.asarray(20.0)  # exp(20) is clamped to 100
    assert float(logit_scale_value(huge)) == 100.0
    for fn in (lambda i, t, s: fused_clip_loss(i, t, s, block_size=4)[0],
               lambda i, t, s: fused_siglip_loss(i, t, s, jnp.asarray(-10.0), block_size=4)[0]):
        loss, grads = jax.value_and_grad(fn, argnums=(0, 1, 2))(dup, dup, huge)
        assert np.isfinite(float(loss))
        assert all(np.all(np.isfinite(g)) for g in grads)
        assert float(grads[2]) == 0.0  # no gradient through the clamp
    _, metrics = fused_clip_loss(dup, dup, huge, block_size=4)
    i2t, _ = in_batch_accuracy(dup, dup)  # ties go to the lower index: only the first copies are right
    assert float(metrics["image_to_text_accuracy"]) == float(i2t) == 0.5


def test_batch_not_divisible_by_devices_is_refused():
    img, txt = _pairs(12)
    with pytest.raises(ValueError, match=r"global batch 12 is not divisible by the 8 devices"):
        fused_clip_loss(img, txt, jnp.asarray(1.0), mesh=_mesh((8, 1, 1)))
