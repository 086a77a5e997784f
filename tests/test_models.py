"""The Flax towers against OpenCLIP: same configs, same embeddings, same logits."""

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sarclip_jax.convert import from_openclip
from sarclip_jax.convert.reference import open_clip
from sarclip_jax.models import MODEL_CONFIGS, CLIPConfig, create_model, get_model_config
from sarclip_jax.models.params import flat_params, model_from_flat_params
from tests.openclip_models import (
    jax_outputs,
    max_rel_error,
    openclip_model,
    openclip_outputs,
    random_inputs,
    state_dict_numpy,
)


@pytest.mark.parametrize("name", [n for n in MODEL_CONFIGS if n != "tiny"])
def test_named_configs_match_openclip_json(name):
    path = pathlib.Path(open_clip().__file__).parent / "model_configs" / f"{name}.json"
    ref = CLIPConfig.from_openclip(json.loads(path.read_text()))
    assert get_model_config(name) == ref


@pytest.mark.parametrize("name,overrides", [
    ("tiny", {}),
    ("tiny", {"quick_gelu": True}),
    ("tiny", {"init_logit_bias": -10.0}),
    ("ViT-B-32", {}),
])
def test_embeddings_match_openclip(name, overrides):
    cfg = get_model_config(name, **overrides)
    ref = openclip_model(name if not overrides else "custom", cfg)
    model = model_from_flat_params(cfg, from_openclip(state_dict_numpy(ref), cfg))
    images, ids = random_inputs(cfg, batch=4)
    want, got = openclip_outputs(ref, images, ids), jax_outputs(model, images, ids)
    for key in ("image", "text", "logits"):
        assert max_rel_error(got[key], want[key]) < 1e-5, key


def test_average_pooling_matches_openclip():
    """pool_type="avg" (OpenCLIP's VisionTransformer option): ln_post per token, mean of the patches."""
    tiny = get_model_config("tiny")
    cfg = tiny.replace(vision=dataclasses.replace(tiny.vision, pool_type="avg"))
    ref = openclip_model("custom", cfg)
    assert ref.visual.pool_type == "avg"
    model = model_from_flat_params(cfg, from_openclip(state_dict_numpy(ref), cfg))
    images, ids = random_inputs(cfg, batch=4)
    want, got = openclip_outputs(ref, images, ids), jax_outputs(model, images, ids)
    assert max_rel_error(got["image"], want["image"]) < 1e-5
    tok = model_from_flat_params(tiny, from_openclip(state_dict_numpy(ref), tiny))  # same weights, class token
    assert max_rel_error(jax_outputs(tok, images, ids)["image"], want["image"]) > 1e-2
    with pytest.raises(ValueError, match="vision.pool_type"):
        tiny.replace(vision=dataclasses.replace(tiny.vision, pool_type="max"))


def test_text_pooling_takes_the_end_token():
    cfg = get_model_config("tiny")
    model = create_model(cfg)
    _, ids = random_inputs(cfg, batch=2)
    changed = ids.copy()
    end = int(np.argmax(ids[0]))
    changed[0, end + 1:] = 7  # tokens after EOT are invisible to it under the causal mask
    a, b = model.encode_text(jnp.asarray(ids)), model.encode_text(jnp.asarray(changed))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    changed[0, 1] = (ids[0, 1] + 1) % 1000 + 1  # a token before EOT is not
    assert np.abs(np.asarray(model.encode_text(jnp.asarray(changed))[0] - a[0])).max() > 1e-4


def test_eos_pooling_finds_the_configured_token():
    base = get_model_config("tiny")
    cfg = base.replace(text=dataclasses.replace(base.text, pool_type="eos", eos_id=3))
    eos_model = create_model(cfg)
    argmax_model = model_from_flat_params(base, {k: np.asarray(v) for k, v in flat_params(eos_model).items()})
    short = np.zeros((1, 77), np.int32)
    short[0, :3] = [2, 1, 3]  # eos is also the largest id: both poolings take position 2
    longer = short.copy()
    longer[0, 3] = 900  # a larger id after eos: argmax moves to position 3, eos stays at 2
    np.testing.assert_allclose(eos_model.encode_text(short), argmax_model.encode_text(short), rtol=1e-6)
    np.testing.assert_allclose(eos_model.encode_text(longer), eos_model.encode_text(short), rtol=1e-6, atol=1e-7)
    assert not np.allclose(argmax_model.encode_text(longer), argmax_model.encode_text(short), atol=1e-4)


def _loss_and_grads(cfg, params, images, ids):
    graphdef, state = nnx.split(model_from_flat_params(cfg, params))

    @jax.jit
    def loss_fn(state):
        model = nnx.merge(graphdef, state)
        out = model(images, ids)
        logits = out["logit_scale"] * out["image_features"] @ out["text_features"].T
        labels = jnp.arange(logits.shape[0])
        return -jnp.mean(jax.nn.log_softmax(logits)[labels, labels])

    loss, grads = jax.value_and_grad(loss_fn)(state)
    return loss, {".".join(map(str, p)): v.get_value() for p, v in nnx.to_flat_state(grads)}


@pytest.mark.parametrize("remat", ["full", "dots"])
def test_remat_gives_the_same_loss_and_gradients(remat):
    cfg = get_model_config("tiny")
    params = {k: np.asarray(v) for k, v in flat_params(create_model(cfg, seed=1)).items()}
    images, ids = random_inputs(cfg, batch=3)
    loss, grads = _loss_and_grads(cfg, params, images, ids)
    loss_r, grads_r = _loss_and_grads(cfg.replace(remat=remat), params, images, ids)
    np.testing.assert_allclose(loss_r, loss, rtol=1e-6)
    assert set(grads) == set(params)
    for k in grads:  # recomputation fuses differently: float32 rounding at the gradient's own scale
        atol = 1e-6 * np.abs(np.asarray(grads[k])).max()
        np.testing.assert_allclose(grads_r[k], grads[k], rtol=1e-4, atol=atol, err_msg=k)
    assert all(np.abs(np.asarray(g)).max() > 0 for g in grads.values()), "a parameter gets no gradient"


def test_bfloat16_compute_keeps_float32_params_and_stays_close():
    cfg = get_model_config("tiny")
    params = {k: np.asarray(v) for k, v in flat_params(create_model(cfg, seed=2)).items()}
    f32 = model_from_flat_params(cfg, params)
    bf16 = model_from_flat_params(cfg.replace(dtype="bfloat16"), params)
    assert all(v.dtype == jnp.float32 for v in flat_params(bf16).values())
    images, ids = random_inputs(cfg, batch=2)
    out32, out16 = f32(images, ids), bf16(images, ids)
    assert out16["image_features"].dtype == jnp.bfloat16
    for key in ("image_features", "text_features"):
        cos = np.sum(np.asarray(out32[key]) * np.asarray(out16[key], np.float32), -1)
        assert np.all(cos > 0.99), (key, cos)


def test_every_parameter_names_its_logical_axes():
    model = create_model(get_model_config("tiny"))
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        axes = var.get_metadata()["logical_axes"]
        assert len(axes) == var.get_value().ndim, path
        if "resblocks" in path:
            assert axes[0] == "layers", path


def test_bad_inputs_and_configs_give_clear_errors():
    cfg = get_model_config("tiny")
    model = create_model(cfg)
    with pytest.raises(ValueError, match=r"NHWC"):
        model.encode_image(jnp.zeros((1, 3, 64, 64)))
    with pytest.raises(ValueError, match=r"<= 77"):
        model.encode_text(jnp.zeros((1, 78), jnp.int32))
    with pytest.raises(ValueError, match=r"unknown model name 'ViT-X'.*ViT-B-32"):
        get_model_config("ViT-X")
    with pytest.raises(ValueError, match=r"dtype='float8'"):
        cfg.replace(dtype="float8")
    with pytest.raises(ValueError, match=r"remat"):
        cfg.replace(remat="sometimes")
    with pytest.raises(ValueError, match=r"unknown model config fields in vision: \['depth'\]"):
        CLIPConfig.from_dict({"vision": {"depth": 3}})
    with pytest.raises(ValueError, match=r"not a multiple of vision.patch_size"):
        cfg.replace(vision=dataclasses.replace(cfg.vision, image_size=65))
    assert CLIPConfig.from_dict(cfg.to_dict()) == cfg


def _reference_attention(q, k, v, causal):
    """softmax(q k^T / sqrt(d)) v written out in float32, with the causal mask as -inf."""
    q, k, v = (np.asarray(x, np.float32) for x in (q, k, v))
    scores = np.einsum("bthd,bshd->bhts", q, k) / np.sqrt(q.shape[-1])
    if causal:
        t = q.shape[1]
        scores = np.where(np.tril(np.ones((t, t), bool)), scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bhts,bshd->bthd", probs, v)


def _qkv(length, dtype, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    return [jax.random.normal(key, (2, length, 2, 64), jnp.float32).astype(dtype) for key in keys]


def _attend(implementation, *args, **kw):
    from jax.experimental.pallas import tpu as pltpu

    from sarclip_jax.models.attention import attend

    if implementation == "pallas":  # the TPU kernel, interpreted on the CPU
        with pltpu.force_tpu_interpret_mode():
            return attend(*args, implementation="pallas", **kw)
    return attend(*args, implementation=implementation, **kw)


@pytest.mark.parametrize("implementation", ["xla", "pallas"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 2e-2)])
def test_attention_kernels_equal_the_written_out_softmax(implementation, causal, dtype, tol):
    # 77 (the text context) is no multiple of the Pallas tile: the padded keys must stay masked.
    q, k, v = _qkv(77, dtype)
    got = np.asarray(_attend(implementation, q, k, v, causal=causal), np.float32)
    want = _reference_attention(q, k, v, causal)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=tol, rtol=tol)


def test_pallas_attention_gradients_equal_xla():
    q, k, v = _qkv(20, jnp.float32, seed=1)
    w = jax.random.normal(jax.random.PRNGKey(2), q.shape)

    def grads(implementation):
        from jax.experimental.pallas import tpu as pltpu

        loss = lambda q, k, v: jnp.sum(w * _attend(implementation, q, k, v, causal=True))
        with pltpu.force_tpu_interpret_mode():  # the backward kernels are traced here
            return jax.grad(loss, argnums=(0, 1, 2))(q, k, v)

    for got, want in zip(grads("pallas"), grads("xla")):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_attention_option_selects_the_kernel_and_rejects_unknown_ones():
    q, k, v = _qkv(8, jnp.float32)
    with pytest.raises(ValueError, match="attention implementation 'flash'"):
        _attend("flash", q, k, v, causal=False)
    with pytest.raises(ValueError, match="attention='flash' is not one of"):
        get_model_config("tiny", attention="flash")
    from sarclip_jax.models.params import abstract_model

    model = abstract_model(get_model_config("tiny", attention="pallas"))
    assert model.visual.transformer.resblocks.attn.implementation == "pallas"
    assert model.text.transformer.resblocks.attn.implementation == "pallas"
