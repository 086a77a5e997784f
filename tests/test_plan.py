"""TPU ahead-of-time compilation on this CPU machine (libtpu's compiler; no TPU needed)."""

import json
import re

import pytest

from sarclip_jax.cli import main as cli
from sarclip_jax.config_loading import apply_overrides, load_config
from sarclip_jax.train import aot

TINY = "configs/default.py"


@pytest.mark.parametrize("topology", ["v5e:2x2", "v5p:2x2x1"])
def test_tiny_step_compiles_for_tpu_and_fits(topology):
    plan = aot.plan_train_step(load_config(TINY), topology)
    assert plan.fits and plan.devices == 4 and plan.mesh["data"] == 4
    assert 0 < plan.params_bytes < plan.argument_bytes < 64 * 2**20
    assert plan.step_time_s(0.5) > 0 and plan.images_per_s(0.5) > 0


def test_fused_loss_holds_no_batch_by_batch_buffer():
    cfg = apply_overrides(load_config(TINY), ["batch_size=128", "loss.block_size=16"])
    hlo = aot.compile_train_step(cfg, "v5e:2x2").compiled.as_text()
    assert re.search(r"\[32,16\]", hlo)  # the per-device tiles of the ring (32 local x 16 block)
    assert not re.search(r"\[128,128\]", hlo)  # never the whole global logits matrix


def test_several_captions_per_image_compile_with_their_batch_and_flops():
    from sarclip_jax.models import flops

    cfg = apply_overrides(load_config(TINY), ["data.captions_per_image=3"])
    c = aot.compile_train_step(cfg, "v5e:2x2")
    assert c.batch["text"].shape == (64, 3, 32) and c.batch["label_ids"].shape == (64, 2)
    plan = aot.plan_train_step(cfg, "v5e:2x2")
    assert plan.fits and plan.step_flops == flops.train_step_flops(c.model_cfg, 64, 3)


def test_vit_b16_step_compiles_for_a_v5p_slice():
    cfg = apply_overrides(load_config("configs/sarclip1m.py:model=ViT-B-16"), ["batch_size=64"])
    plan = aot.plan_train_step(cfg, "v5p:2x2x1")
    assert plan.fits and plan.generation == "v5p"
    assert 150e6 * 4 / 4 < plan.params_bytes < 160e6 * 4  # ~150M float32 parameters, split or whole


def test_v4_slices_listed_core_by_core_get_a_mesh():
    plan = aot.plan_train_step(load_config(TINY), "v4:2x2x1")
    assert plan.devices == 8 and plan.generation == "v4" and plan.hbm_bytes == 16 * 2**30


def test_unknown_and_gpu_topologies_say_what_to_give():
    with pytest.raises(aot.PlanError, match="GPUs cannot be compiled for"):
        aot.topology_devices("h100")


def test_plan_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "plan.json"
    # positives=text: the planned step takes the batch's caption ids (it refuses a batch without them).
    assert cli(["plan", "--config", TINY, "--topology", "v5e:2x2", "--json", str(out),
                "--config.loss.positives=text"]) == 0
    printed = capsys.readouterr().out
    assert "| v5e:2x2 |" in printed and "fits" in printed
    (entry,) = json.loads(out.read_text())["plans"]
    assert entry["fits"] and entry["topology"] == "v5e:2x2" and entry["images_per_s"] > 0
    # The evaluators' forward at their batch (eval/synthetic_test.py: 128), all buffers counted.
    ev = entry["eval"]
    assert ev["fits"] and ev["batch"] == 128 and "evaluation forward at batch 128" in printed
    assert re.search(r"image tower [\d.]+ [MG]iB, text tower [\d.]+ [MG]iB per chip", printed)  # a unit each
    assert ev["image_bytes"] > 128 * 64 * 64 * 3 * 4 // 4  # at least a chip's share of the float32 images
    assert 0 < ev["text_bytes"] < ev["image_bytes"]


def test_fsdp_keeps_activations_split_over_the_batch():
    # With weights split over fsdp, GSPMD used to spread that split onto the residual stream and
    # replicate the batch on every chip; the towers now pin activations to the batch split.
    cfg = apply_overrides(load_config(TINY), ["batch_size=16", "mesh.data=1", "mesh.fsdp=4"])
    hlo = aot.compile_train_step(cfg, "v5e:2x2").compiled.as_text()
    # The residual streams: tiny's 8x8 patches + class token at width 96; 32 text tokens at width 64.
    stream = r"(65,96|32,64)\]"
    assert re.search(rf"\[4,{stream}", hlo)  # 4 images or texts per chip
    assert not re.search(rf"\[16,{stream}", hlo)  # never the whole batch's activations on one chip


def test_suggestions_name_the_loss_knob_in_use():
    from types import SimpleNamespace

    from sarclip_jax.cli.plan import suggestions

    plan = SimpleNamespace(devices=8)
    chosen = suggestions(apply_overrides(load_config(TINY), ["loss.memory_mib=64"]), plan)
    assert any("--config.loss.memory_mib=32" in s for s in chosen)
    assert not any("block_size=128" in s for s in chosen)  # halving 0 would force a 128 ring tile
    forced = suggestions(apply_overrides(load_config(TINY), ["loss.block_size=1024"]), plan)
    assert any("--config.loss.block_size=512" in s for s in forced)
    assert any("remat=full" in s for s in forced) and any("fsdp=8" in s for s in forced)
