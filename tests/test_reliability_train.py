"""Faults tried, not assumed: SIGKILL at several points, SIGTERM, a corrupted newest checkpoint,
and a long run that must not leak host memory or file handles. Every interrupted run is
restarted and must end bit-identical (parameters, optimizer state, step, data position) to an
uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from sarclip_jax.train.checkpointing import Checkpointer
from tests import train_harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12
COMMON = ("checkpoint.every=4", "eval_every=4")


def _cmd(workdir, steps, *extra):
    return [sys.executable, "-m", "tests.train_harness", str(workdir), str(steps), *COMMON, *extra]


def _env():
    return train_harness.child_env(1)


def _run(workdir, steps=STEPS, *extra, expect_kill=False):
    out = subprocess.run(_cmd(workdir, steps, *extra), cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=300)
    if expect_kill:
        assert out.returncode == -signal.SIGKILL, out.stdout[-3000:] + out.stderr[-3000:]
    else:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def _final(workdir):
    """(step, state, data iterator position) of the newest checkpoint."""
    ckpt = Checkpointer(workdir / "checkpoints")
    step = ckpt.latest_step()
    restored = ckpt.manager.restore(step, args=ckpt._ocp.args.Composite(state=ckpt._ocp.args.StandardRestore()))
    ckpt.close()
    data = (workdir / "checkpoints" / str(step) / "data" / "process_0-of-1.json").read_text()
    return step, restored["state"], json.loads(data)


def _assert_same_run(a, b):
    step_a, state_a, data_a = _final(a)
    step_b, state_b, data_b = _final(b)
    assert step_a == step_b == STEPS
    assert data_a == data_b  # the data iterator is at the same position: same data order
    flat_a, flat_b = jax.tree_util.tree_leaves_with_path(state_a), jax.tree_util.tree_leaves_with_path(state_b)
    assert [p for p, _ in flat_a] == [p for p, _ in flat_b]
    for (path, x), (_, y) in zip(flat_a, flat_b):  # params, Adam moments, count, step, rng
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("straight")
    _run(workdir)
    return workdir


@pytest.mark.parametrize("fault", ["kill_after_save_step=8", "kill_on_eval_call=2"])
def test_sigkill_during_a_save_or_an_evaluation_then_restart(straight, tmp_path, fault):
    _run(tmp_path, STEPS, fault, expect_kill=True)
    # Orbax finalises a checkpoint by renaming its temporary directory: a save cut short leaves
    # only a temporary directory, which the next start neither reads nor keeps.
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert all(n.isdigit() or "tmp" in n for n in names), names
    out = _run(tmp_path)
    assert "RESULT 12 completed" in out
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if "tmp" in p.name]
    _assert_same_run(straight, tmp_path)


def test_sigterm_then_restart_equals_an_uninterrupted_run(straight, tmp_path):
    proc = subprocess.Popen(_cmd(tmp_path, STEPS, "sleep_per_step=0.25"), cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not (tmp_path / "checkpoints" / "4").exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "preempted" in out, out[-3000:]
    stopped_at = json.loads((tmp_path / "summary.json").read_text())["final_step"]
    assert 4 <= stopped_at < STEPS
    _run(tmp_path)
    _assert_same_run(straight, tmp_path)


def test_corrupted_newest_checkpoint_falls_back_to_the_previous(straight, tmp_path):
    _run(tmp_path, STEPS)
    # Wreck the newest checkpoint's files (as a disk fault or a partial copy would).
    wrecked = [p for p in (tmp_path / "checkpoints" / "12" / "state").rglob("*") if p.is_file()]
    for path in wrecked:
        path.write_bytes(b"\x00garbage")
    assert wrecked
    out = _run(tmp_path, STEPS, "log_every=1")
    assert "could not be restored" in out and "trying an older one" in out
    assert "RESULT 12 completed" in out
    assert (tmp_path / "corrupt_checkpoints" / "12").is_dir()  # set aside, not deleted
    _assert_same_run(straight, tmp_path)


def test_long_run_keeps_host_memory_and_file_handles_flat(tmp_path):
    log = tmp_path / "resources.jsonl"
    # 30 save-and-evaluate cycles, where handles and buffers would pile up, every 10 steps
    _run(tmp_path / "run", 300, "batch_size=8", "checkpoint.every=10", "checkpoint.keep=2", "eval_every=10",
         "log_every=10", f"resource_log={log}")
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(rows) == 30
    warm, end = rows[5:10], rows[-5:]  # after compilation and the first saves settle
    fds_warm, fds_end = max(r["fds"] for r in warm), max(r["fds"] for r in end)
    rss_warm, rss_end = np.median([r["rss"] for r in warm]), np.median([r["rss"] for r in end])
    assert fds_end <= fds_warm + 2, (fds_warm, fds_end)
    assert rss_end < rss_warm * 1.10 + 20 * 2**20, (rss_warm / 2**20, rss_end / 2**20)
    assert len([p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.isdigit()]) <= 3
