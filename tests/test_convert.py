"""Weights in and out of the PyTorch world, and every refusal the converter promises."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sarclip_jax import convert, model_dir
from sarclip_jax.cli import main as cli
from sarclip_jax.convert.layouts import CUSTOM_TEXT, HF, detect_layout
from sarclip_jax.convert.reference import open_clip
from sarclip_jax.models import get_model_config
from tests.openclip_models import (
    jax_outputs,
    max_rel_error,
    openclip_model,
    openclip_outputs,
    random_inputs,
    state_dict_numpy,
)


@pytest.fixture(scope="module")
def b32():
    cfg = get_model_config("ViT-B-32")
    ref = openclip_model("ViT-B-32", cfg, seed=3)
    images, ids = random_inputs(cfg, batch=2, seed=3)
    return cfg, ref, images, ids, openclip_outputs(ref, images, ids)


@pytest.fixture(scope="module")
def tiny():
    cfg = get_model_config("tiny")
    ref = openclip_model("custom", cfg, seed=4)
    images, ids = random_inputs(cfg, batch=3, seed=4)
    return cfg, ref, images, ids, openclip_outputs(ref, images, ids)


def test_round_trip_jax_to_safetensors_to_openclip(b32, tmp_path):
    cfg, ref, images, ids, want = b32
    torch.save(ref.state_dict(), tmp_path / "ref.pt")
    model = convert.load_pytorch_weights(tmp_path / "ref.pt", "ViT-B-32")
    got = jax_outputs(model, images, ids)
    assert max_rel_error(got["image"], want["image"]) < 1e-5
    convert.export_openclip(model, tmp_path / "out.safetensors")
    back = open_clip().create_model("ViT-B-32", pretrained=str(tmp_path / "out.safetensors")).eval()
    again = openclip_outputs(back, images, ids)
    for key in want:
        np.testing.assert_array_equal(again[key], want[key])


def test_cli_converts_both_ways(tiny, tmp_path, capsys):
    cfg, ref, images, ids, want = tiny
    from safetensors.torch import save_file

    save_file(ref.state_dict(), str(tmp_path / "ref.safetensors"))
    assert cli(["convert", "--from", str(tmp_path / "ref.safetensors"), "--model", "tiny",
                "--to", str(tmp_path / "jax")]) == 0
    assert model_dir.is_model_dir(tmp_path / "jax")
    got = jax_outputs(model_dir.load_model(tmp_path / "jax"), images, ids)
    assert max_rel_error(got["logits"], want["logits"]) < 1e-5
    assert cli(["convert", "--from", str(tmp_path / "jax"), "--to-openclip", str(tmp_path / "back.safetensors")]) == 0
    back = convert.read_state_dict(tmp_path / "back.safetensors")
    for k, v in state_dict_numpy(ref).items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
    assert "openclip layout" in capsys.readouterr().out


def test_hf_transformers_layout(tiny, tmp_path):
    import transformers

    cfg, _, images, ids, _ = tiny
    v, t = cfg.vision, cfg.text
    hf_cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=t.vocab_size, hidden_size=t.width, intermediate_size=int(t.width * t.mlp_ratio),
                         num_hidden_layers=t.layers, num_attention_heads=t.heads,
                         max_position_embeddings=t.context_length, hidden_act="gelu", eos_token_id=49407,
                         bos_token_id=49406, pad_token_id=0),
        vision_config=dict(hidden_size=v.width, intermediate_size=int(v.width * v.mlp_ratio), num_hidden_layers=v.layers,
                           num_attention_heads=v.heads, image_size=v.image_size, patch_size=v.patch_size,
                           hidden_act="gelu"),
        projection_dim=cfg.embed_dim)
    torch.manual_seed(5)
    hf = transformers.CLIPModel(hf_cfg).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.ndim == 1 and "logit" not in name:
                p.add_(torch.randn_like(p) * 0.1)
    sd = state_dict_numpy(hf)
    assert detect_layout(sd) == HF
    from safetensors.numpy import save_file

    save_file(sd, str(tmp_path / "hf.safetensors"))
    model = convert.load_pytorch_weights(tmp_path / "hf.safetensors", cfg)
    with torch.no_grad():
        pix = torch.from_numpy(images.transpose(0, 3, 1, 2))
        tok = torch.from_numpy(ids.astype(np.int64))
        want_image = _features(hf.get_image_features(pixel_values=pix))
        want_text = _features(hf.get_text_features(input_ids=tok))
    got = jax_outputs(model, images, ids)
    assert max_rel_error(got["image"], want_image) < 1e-5
    assert max_rel_error(got["text"], want_text) < 1e-5


def _features(out):
    # transformers 5 returns a model output object; older releases return the tensor itself
    return (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()


def test_wrapped_prefixed_and_custom_text_layouts(tiny, tmp_path):
    cfg, ref, images, ids, want = tiny
    sd = ref.state_dict()
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "train.pt")
    got = jax_outputs(convert.load_pytorch_weights(tmp_path / "train.pt", cfg), images, ids)
    assert max_rel_error(got["text"], want["text"]) < 1e-5
    custom = {("text." + k if k.startswith(("transformer.", "token_embedding", "positional_embedding", "ln_final",
                                            "text_projection")) else k): v for k, v in state_dict_numpy(ref).items()}
    assert detect_layout(custom) == CUSTOM_TEXT
    from safetensors.numpy import save_file

    save_file(custom, str(tmp_path / "custom.safetensors"))
    got = jax_outputs(convert.load_pytorch_weights(tmp_path / "custom.safetensors", cfg), images, ids)
    assert max_rel_error(got["text"], want["text"]) < 1e-5


def test_key_and_shape_errors_list_the_offenders(tiny, tmp_path):
    cfg, ref, *_ = tiny
    sd = state_dict_numpy(ref)
    del sd["visual.ln_post.weight"]
    sd["visual.extra_head.weight"] = np.zeros((2, 2), np.float32)
    sd["text_projection"] = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError) as err:
        convert.from_openclip(sd, cfg)
    msg = str(err.value)
    assert "missing from the file (1)" in msg and "visual.ln_post.weight (96,)" in msg
    assert "in the file but not in the model (1)" in msg and "visual.extra_head.weight (2, 2)" in msg
    assert "text_projection: file has (3, 4), model expects (64, 64)" in msg


def test_cli_refuses_unknown_model_and_missing_arguments(tiny, tmp_path):
    cfg, ref, *_ = tiny
    from safetensors.torch import save_file

    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    with pytest.raises(SystemExit, match=r"unknown --model 'ViT-Q-9'.*ViT-B-32"):
        cli(["convert", "--from", str(tmp_path / "w.safetensors"), "--model", "ViT-Q-9", "--to", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match=r"--model is needed"):
        cli(["convert", "--from", str(tmp_path / "w.safetensors"), "--to", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match=r"give --to DIR and/or --to-openclip"):
        cli(["convert", "--from", str(tmp_path / "w.safetensors"), "--model", "tiny"])
    with pytest.raises(SystemExit, match=r"shape mismatches"):
        cli(["convert", "--from", str(tmp_path / "w.safetensors"), "--model", "ViT-B-32", "--to", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match=r"not found"):
        cli(["convert", "--from", str(tmp_path / "nope.pt"), "--model", "tiny", "--to", str(tmp_path / "o")])


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickles_that_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = _RunsCode()
    payload.marker = marker
    torch.save({"visual.proj": torch.zeros(2), "evil": payload}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"evil.pt: refused"):
        convert.read_state_dict(tmp_path / "evil.pt")
    assert not marker.exists()


def test_torchscript_archives_and_junk_are_refused(tmp_path):
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    scripted.save(str(tmp_path / "openai.pt"))
    with pytest.raises(ValueError, match=r"TorchScript archive"):
        convert.read_state_dict(tmp_path / "openai.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"junk.safetensors: not a readable safetensors file"):
        convert.read_state_dict(tmp_path / "junk.safetensors")
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"unknown weight file type '.npz'"):
        convert.read_state_dict(tmp_path / "w.npz")


def test_model_directory_round_trip_and_overwrite_guard(tmp_path):
    from sarclip_jax.models import create_model
    from sarclip_jax.models.params import flat_params

    cfg = get_model_config("tiny")
    model = create_model(cfg, seed=6)
    model_dir.save_model(model, tmp_path / "m")
    with pytest.raises(FileExistsError, match=r"already holds a model"):
        model_dir.save_model(model, tmp_path / "m")
    restored = model_dir.load_model(tmp_path / "m")
    assert restored.config == cfg
    for k, v in flat_params(model).items():
        np.testing.assert_array_equal(flat_params(restored)[k], v, err_msg=k)
    assert model_dir.load_model(tmp_path / "m", dtype="bfloat16").config.dtype == "bfloat16"
    with pytest.raises(FileNotFoundError, match=r"not a sarclip_jax model directory"):
        model_dir.read_model_config(tmp_path)


def test_importing_the_package_pulls_in_neither_torch_nor_tensorflow():
    code = ("import sys, sarclip_jax, sarclip_jax.models, sarclip_jax.convert, sarclip_jax.model_dir; "
            "bad = [m for m in ('torch', 'tensorflow') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
