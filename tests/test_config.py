"""Configs: loading, overrides, and validation that names the field and what would be valid."""

import pytest

from sarclip_jax.config_loading import apply_overrides, load_config, parse_arg
from sarclip_jax.train.validate import ConfigError, validate_train_config
from tests.train_harness import config


def test_overrides_parse_types_and_refuse_unknown_fields():
    cfg = config(10)
    apply_overrides(cfg, ["optim.lr=3e-4", "batch_size=32", "model.name=ViT-B-32", "optim.freeze=['visual\\\\..*']"])
    assert cfg.optim.lr == 3e-4 and cfg.batch_size == 32 and cfg.model.name == "ViT-B-32"
    assert cfg.optim.freeze == ["visual\\..*"]
    with pytest.raises(ValueError, match=r"unknown config field 'optim.lrr'; fields here: \[.*'lr'"):
        apply_overrides(cfg, ["optim.lrr=1"])
    with pytest.raises(ValueError, match=r"unknown config field 'optimizer'"):
        apply_overrides(cfg, ["optimizer.lr=1"])
    with pytest.raises(TypeError, match=r"config field batch_size"):
        apply_overrides(cfg, ["batch_size=big"])
    with pytest.raises(ValueError, match=r"not key=value"):
        apply_overrides(cfg, ["batch_size"])


@pytest.mark.parametrize("override,message", [
    ("model.name=ViT-Z", r"model.name='ViT-Z': one of \["),
    ("model.dtype=float8", r"model.dtype='float8' is not one of"),
    ("loss.kind=triplet", r"loss.kind='triplet': one of \['clip', 'siglip'\]"),
    ("batch_size=12", r"batch_size=12: must be a positive multiple of 8 \(8 batch shards"),
    ("mesh.data=16", r"mesh: mesh .* needs 16 devices, but 8 are present"),
    ("model.init_from=/no/such/weights.safetensors", r"model.init_from='/no/such/weights.safetensors': no such file"),
    ("optim.freeze=['(unclosed']", r"optim.freeze: '\(unclosed' is not a valid regular expression"),
    ("checkpoint.keep=0", r"checkpoint.keep=0: must be >= 1"),
    ("total_steps=0", r"total_steps=0: must be > 0"),
])
def test_validation_names_the_field(override, message):
    cfg = apply_overrides(config(10, **{"mesh.data": -1}), [override])
    with pytest.raises(ConfigError, match=message):
        validate_train_config(cfg, num_devices=8)


def test_valid_config_passes_and_several_errors_are_reported_together():
    validate_train_config(config(10), num_devices=8)
    cfg = apply_overrides(config(10), ["loss.kind=x", "checkpoint.every=0"])
    with pytest.raises(ConfigError) as err:
        validate_train_config(cfg, num_devices=8)
    assert "loss.kind" in str(err.value) and "checkpoint.every" in str(err.value)


def test_config_files_and_arguments(tmp_path):
    (tmp_path / "exp.py").write_text(
        "from sarclip_jax.config_loading import parse_arg\n"
        "import ml_collections\n"
        "def get_config(arg=None):\n"
        "    a = parse_arg(arg, model='tiny', smoke=False)\n"
        "    return ml_collections.ConfigDict(dict(model=a.model, smoke=a.smoke))\n")
    cfg = load_config(f"{tmp_path / 'exp.py'}:model=ViT-B-16,smoke=True")
    assert cfg.model == "ViT-B-16" and cfg.smoke is True
    with pytest.raises(ValueError, match=r"unknown config argument 'modle'; known: \['model', 'smoke'\]"):
        parse_arg("modle=x", model="tiny", smoke=False)
    with pytest.raises(FileNotFoundError, match=r"config file not found"):
        load_config(str(tmp_path / "nope.py"))


def test_text_positions_follow_the_data_only_for_a_tokenizer_trained_here(tmp_path):
    import ml_collections

    from sarclip_jax.text.sentencepiece_tokenizer import train_sentencepiece
    from sarclip_jax.train.loop import model_config

    cfg = config(10)
    cfg.data = ml_collections.ConfigDict(dict(tokenizer="clip", context_length=32))
    with pytest.raises(ConfigError, match=r"data.context_length=32: model tiny's text tower has 77 positions"):
        validate_train_config(cfg, num_devices=8)
    assert model_config(cfg).text.context_length == 77  # CLIP BPE: the named tower, unchanged

    words = ["ship", "vehicle", "aircraft", "sea", "farmland", "upper", "left", "right", "two", "three"]
    (tmp_path / "c.txt").write_text("\n".join(f"a {a} and a {b}" for a in words for b in words))
    cfg.data.tokenizer = str(train_sentencepiece([tmp_path / "c.txt"], vocab_size=48, out_prefix=tmp_path / "sp"))
    validate_train_config(cfg, num_devices=8)
    text = model_config(cfg).text
    assert (text.context_length, text.vocab_size) == (32, 48)
