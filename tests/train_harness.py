"""Runs the trainer on a small in-memory dataset; used in-process and as a subprocess by tests.

    python -m tests.train_harness WORKDIR STEPS [key=value ...]

Each record pairs a random image with a caption naming its index, so a tiny model can learn the
pairing; the Grain iterator is checkpointable like the real pipeline's.
"""

import json
import os
import signal
import sys
import time

import grain
import ml_collections
import numpy as np

N_RECORDS = 64


def records(image_size: int = 64):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((N_RECORDS, image_size, image_size, 3)).astype(np.float32)
    ids = np.zeros((N_RECORDS, 77), np.int32)
    ids[:, 0], ids[:, 1], ids[:, 2] = 49406, np.arange(N_RECORDS) + 100, 49407
    return [{"image": images[i], "text": ids[i]} for i in range(N_RECORDS)]


def data_fn(global_batch: int, shard_index: int, shard_count: int, seed: int, nan_at_record: int | None = None,
            sleep_per_batch: float = 0.0):
    recs = records()
    if nan_at_record is not None:
        recs[nan_at_record]["image"] = np.full_like(recs[nan_at_record]["image"], np.nan)
    ds = grain.MapDataset.source(recs).shuffle(seed=seed).repeat()
    ds = ds[shard_index::shard_count].batch(global_batch // shard_count, drop_remainder=True)
    if sleep_per_batch:  # slows the run so a test can signal the process mid-way
        ds = ds.map(lambda batch: (time.sleep(sleep_per_batch), batch)[1])
    return iter(ds.to_iter_dataset())


def child_env(devices: int = 1, **extra: str) -> dict[str, str]:
    """The environment of a trainer subprocess with `devices` CPU devices; under pytest it shares
    the suite's persistent compilation cache (tests/conftest.py) with the other subprocesses, so a
    program is compiled once per session. Eviction on means JAX locks the cache, so concurrent
    processes never read a half-written entry."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **extra)
    cache = os.environ.get("SARCLIP_TEST_CHILD_JAX_CACHE")
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", JAX_COMPILATION_CACHE_MAX_SIZE=str(4 << 30))
    return env


def config(total_steps: int, **overrides) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(dict(
        seed=0,
        model=dict(name="tiny", dtype="float32", param_dtype="float32", remat="none", init_from=""),
        loss=dict(kind="clip", block_size=1024),
        mesh=dict(data=-1, fsdp=1, tensor=1),
        batch_size=16, accum_steps=1, total_steps=total_steps,
        optim=dict(lr=1e-3, end_lr=0.0, warmup_steps=3, b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.1,
                   clip_norm=1.0, freeze=[]),
        log_every=2, eval_every=0, tensorboard=False,
        checkpoint=dict(every=4, keep=3, best_metric="", best_mode="max", async_save=True),
        peak_flops=0.0,
        distributed=dict(mode="off", coordinator_address="", num_processes=0, process_id=-1),
    ))
    from sarclip_jax.config_loading import apply_overrides

    return apply_overrides(cfg, [f"{k}={v}" for k, v in overrides.items()])


class ProbeEvaluator:
    """A cheap stand-in evaluator (the real ones are tested in test_eval_*): a number that depends
    on the parameters, so best-checkpoint tracking has something to rank."""

    def __init__(self, kill_on_call: int = 0):
        self.calls, self.kill_on_call = 0, kill_on_call

    def run(self, model):
        self.calls += 1
        if self.calls == self.kill_on_call:  # die in the middle of an evaluation
            os.kill(os.getpid(), signal.SIGKILL)
        return [("probe/proj_norm", float(np.linalg.norm(np.asarray(model.visual.proj[...]))))]


def instrument_saves(kill_after_save_step: int = 0, resource_log: str = ""):
    """Test-only hooks on Checkpointer.save: SIGKILL right after an asynchronous save of a given
    step has started (so it is still being written), and/or log host memory and open files."""
    from sarclip_jax.train import checkpointing

    original = checkpointing.Checkpointer.save

    def save(self, step, *args, **kwargs):
        out = original(self, step, *args, **kwargs)
        if resource_log:
            with open(resource_log, "a") as f:
                f.write(json.dumps({"step": int(step), "rss": _rss_bytes(), "fds": len(os.listdir("/proc/self/fd"))})
                        + "\n")
        if step == kill_after_save_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    checkpointing.Checkpointer.save = save


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def main(argv):
    workdir, steps, *rest = argv
    overrides = dict(item.split("=", 1) for item in rest)
    nan_at = overrides.pop("nan_at_record", None)
    sleep = float(overrides.pop("sleep_per_step", 0))
    kill_in_eval = int(overrides.pop("kill_on_eval_call", 0))
    instrument_saves(int(overrides.pop("kill_after_save_step", 0)), overrides.pop("resource_log", ""))
    from sarclip_jax.train import distributed, loop

    cfg = config(int(steps), **overrides)
    distributed.initialize(cfg.distributed)

    def fn(*args):
        return data_fn(*args, nan_at_record=int(nan_at) if nan_at else None, sleep_per_batch=sleep)

    evaluators = {"probe": ProbeEvaluator(kill_in_eval)} if cfg.eval_every else {}
    result = loop.train(cfg, workdir, fn, evaluators)
    print(f"RESULT {result.final_step} {result.stopped_by} {result.last_metrics.get('loss')}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main(sys.argv[1:])
