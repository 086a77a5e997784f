"""The trainer: mesh-independence, exact accumulation, freezing, resume, preemption, NaN stop."""

import functools
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from sarclip_jax import sharding
from sarclip_jax.models import CLIPConfig, get_model_config
from sarclip_jax.train import loop, optim, trainer
from sarclip_jax.train import train_state as state_lib
from sarclip_jax.train.checkpointing import Checkpointer
from sarclip_jax.train.step import StepConfig, loss_and_grads, make_encode, make_loss_on_features
from tests import train_harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup(mesh_shape, optim_overrides=None, step_cfg=StepConfig(block_size=4)):
    mesh = sharding.make_mesh(sharding.MeshConfig(*mesh_shape), devices=jax.devices()[:int(np.prod(mesh_shape))])
    ocfg = train_harness.config(10).optim
    for k, v in (optim_overrides or {}).items():
        ocfg[k] = v
    t = trainer.build(get_model_config("tiny"), ocfg, mesh, total_steps=10, step_cfg=step_cfg)
    return mesh, t.init_state(seed=0), t.train_step, t.batch_shardings, t.graphdef


def _batches(n, size=16):
    recs = train_harness.records()
    for i in range(n):
        chunk = recs[(i * size) % 64:(i * size) % 64 + size]
        yield {"image": np.stack([r["image"] for r in chunk]), "text": np.stack([r["text"] for r in chunk])}


@functools.cache
def _mesh_losses(shape):
    mesh, st, step, batch_sh, _ = _setup(shape)
    out = []
    for batch in _batches(4):
        st, m = step(st, {k: jax.device_put(v, batch_sh[k]) for k, v in batch.items()})
        out.append(float(m["loss"]))
    return out


@pytest.mark.parametrize("mesh_shape", [(8, 1, 1), (2, 4, 1), (2, 2, 2)])
def test_training_losses_do_not_depend_on_the_mesh(mesh_shape):
    want, got = _mesh_losses((1, 1, 1)), _mesh_losses(mesh_shape)  # the one-device run is trained once
    np.testing.assert_allclose(got, want, rtol=2e-5)
    assert want[-1] < want[0]  # it trains


def test_accumulated_gradients_equal_the_full_batch():
    cfg = get_model_config("tiny")
    graphdef, abstract = state_lib.abstract_params(cfg)
    from sarclip_jax.models import create_model

    params = nnx.to_pure_dict(nnx.state(create_model(cfg, seed=1), nnx.Param))
    batch = next(_batches(1))
    encode, loss_fn = make_encode(graphdef), make_loss_on_features(StepConfig(), None)
    (l1, _), g1 = jax.jit(lambda p: loss_and_grads(encode, loss_fn, p, batch["image"], batch["text"], 1))(params)
    (l4, _), g4 = jax.jit(lambda p: loss_and_grads(encode, loss_fn, p, batch["image"], batch["text"], 4))(params)
    np.testing.assert_allclose(l4, l1, rtol=1e-6)
    for path, a, b in zip(jax.tree.leaves(optim.param_paths(g1)), jax.tree.leaves(g1), jax.tree.leaves(g4)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=path)


def test_frozen_tower_does_not_move_and_no_decay_spares_norms():
    mesh, st, step, batch_sh, _ = _setup((1, 1, 1), {"freeze": [r"visual\..*"], "weight_decay": 0.5})
    before = jax.tree.map(np.asarray, st["params"])
    for batch in _batches(3):
        st, _ = step(st, {k: jax.device_put(v, batch_sh[k]) for k, v in batch.items()})
    after = jax.tree.map(np.asarray, st["params"])
    np.testing.assert_array_equal(after["visual"]["conv1"], before["visual"]["conv1"])
    assert not np.array_equal(after["text"]["text_projection"], before["text"]["text_projection"])
    no_decay = optim.matches(before, [optim.DEFAULT_NO_DECAY])
    assert no_decay["text"]["ln_final"]["weight"] and no_decay["visual"]["positional_embedding"]
    assert not no_decay["text"]["transformer"]["resblocks"]["mlp"]["c_fc"]["weight"]
    with pytest.raises(ValueError, match=r"matches no parameter"):
        optim.make_optimizer(train_harness.config(10, **{"optim.freeze": ["nothing.*"]}).optim, before, 10)


def _run(workdir, steps, *extra, timeout=300, wait=True):
    cmd = [sys.executable, "-m", "tests.train_harness", str(workdir), str(steps), *extra]
    env = train_harness.child_env(1)
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _final_params(workdir):
    ckpt = Checkpointer(workdir / "checkpoints")
    step = ckpt.latest_step()
    restored = ckpt.manager.restore(step, args=ckpt._ocp.args.Composite(state=ckpt._ocp.args.StandardRestore()))
    ckpt.close()
    return step, restored["state"]


def test_sigterm_saves_and_exits_cleanly(tmp_path):
    proc = _run(tmp_path, 200, "sleep_per_step=0.2", wait=False)
    deadline = time.time() + 240
    while not (tmp_path / "metrics.jsonl").exists() or len((tmp_path / "metrics.jsonl").read_text().splitlines()) < 2:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped_by"] == "preempted"
    saved = Checkpointer(tmp_path / "checkpoints").latest_step()
    assert saved == summary["final_step"] and 4 <= saved < 200


def test_non_finite_loss_stops_with_the_last_good_state(tmp_path):
    cfg = train_harness.config(40)
    with pytest.raises(loop.NonFiniteLoss, match=r"NaN/inf at step \d+; the last good state \(step \d+\)"):
        loop.train(cfg, tmp_path, lambda *a: train_harness.data_fn(*a, nan_at_record=5))
    step, st = _final_params(tmp_path)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(st["params"]))
    assert int(st["step"]) == step < 40


def test_cpu_initialisation_compiled_at_o1_gives_the_default_compilers_parameters():
    # train_state compiles the random initialisation with CPU_INIT_COMPILER_OPTIONS to save
    # compile time; the parameters must be the bits the default compiler gives.
    mesh = sharding.make_mesh(sharding.MeshConfig(data=2, fsdp=2, tensor=2))
    t = trainer.build(get_model_config("tiny"), train_harness.config(10).optim, mesh, total_steps=10)
    fast = t.init_state(seed=3)["params"]
    with jax.set_mesh(mesh):
        plain = jax.jit(lambda: state_lib.init_state(t.model_cfg, t.tx, t.shardings, 3))()["params"]
    assert state_lib.CPU_INIT_COMPILER_OPTIONS  # the fast path is on, or this compares a thing with itself
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(fast), jax.tree.leaves(plain)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def test_checkpoint_restores_onto_a_different_mesh(tmp_path):
    cfg = train_harness.config(4, **{"mesh.data": 8})
    loop.train(cfg, tmp_path, train_harness.data_fn)
    model_cfg = loop.model_config(cfg)
    _, abstract = state_lib.abstract_params(model_cfg)
    tx, _ = optim.make_optimizer(cfg.optim, nnx.to_pure_dict(abstract), cfg.total_steps)
    mesh = sharding.make_mesh(sharding.MeshConfig(data=2, fsdp=2, tensor=2))
    _, shardings = state_lib.state_shardings(model_cfg, tx, mesh)
    shapes = jax.eval_shape(lambda: state_lib.init_state(model_cfg, tx, shardings, 0))
    ckpt = Checkpointer(tmp_path / "checkpoints")
    restored = ckpt.restore(4, state_lib.abstract_state(shardings, shapes), train_harness.data_fn(16, 0, 1, 0))
    ckpt.close()
    _, plain = _final_params(tmp_path)
    kernel = restored["params"]["text"]["transformer"]["resblocks"]["mlp"]["c_fc"]["weight"]
    assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", "tensor")
    for x, y in zip(jax.tree.leaves(restored["params"]), jax.tree.leaves(plain["params"])):
        np.testing.assert_array_equal(np.asarray(x), y)


def test_two_processes_train_the_same_model(tmp_path):
    port = 20000 + os.getpid() % 20000
    procs = []
    for pid in range(2):
        cmd = [sys.executable, "-m", "tests.train_harness", str(tmp_path / "run"), "6",
               "distributed.mode=on", f"distributed.coordinator_address=127.0.0.1:{port}",
               "distributed.num_processes=2", f"distributed.process_id={pid}", "checkpoint.every=3"]
        # Without the suite's compilation cache: two processes writing the same entries at once
        # made this test slower.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT"))}
        env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    results = [next(line for line in out.splitlines() if line.startswith("RESULT")) for out in outs]
    assert results[0] == results[1], results  # same final loss in both processes
    assert results[0].startswith("RESULT 6 completed")
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4, 6]  # written once, by process 0


def test_domain_transfer_starts_from_converted_weights(tmp_path):
    from sarclip_jax import convert, model_dir
    from sarclip_jax.models import create_model
    from sarclip_jax.models.params import flat_params

    source = create_model(get_model_config("tiny"), seed=11)
    convert.export_openclip(source, tmp_path / "general_clip.safetensors")
    # One step at learning rate 0 (the first warm-up step): the run must end on the file's weights.
    cfg = train_harness.config(1, **{"model.init_from": str(tmp_path / "general_clip.safetensors"),
                                     "optim.warmup_steps": 5, "log_every": 1})
    loop.train(cfg, tmp_path / "stage1", train_harness.data_fn)
    stage1 = model_dir.load_model(tmp_path / "stage1")
    for k, v in flat_params(source).items():
        np.testing.assert_allclose(flat_params(stage1)[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
    # The next stage starts from the previous run's exported model directory.
    cfg2 = train_harness.config(1, **{"model.init_from": str(tmp_path / "stage1"), "optim.warmup_steps": 5})
    loop.train(cfg2, tmp_path / "stage2", train_harness.data_fn)
    stage2 = model_dir.load_model(tmp_path / "stage2")
    for k, v in flat_params(source).items():
        np.testing.assert_allclose(flat_params(stage2)[k], v, rtol=1e-6, atol=1e-7, err_msg=k)


def test_model_vision_pool_type_reaches_the_model_config():
    cfg = train_harness.config(2)
    assert loop.model_config(cfg).vision.pool_type == "tok"  # OpenCLIP's default when the key is absent
    cfg.model.vision_pool_type = "avg"
    model_cfg = loop.model_config(cfg)
    assert model_cfg.vision.pool_type == "avg"
    assert CLIPConfig.from_dict(model_cfg.to_dict()) == model_cfg  # what a saved model reads back
