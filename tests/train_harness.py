"""Runs the trainer on a small in-memory dataset; used in-process and as a subprocess by tests.

    python -m tests.train_harness WORKDIR STEPS [key=value ...]

Each record pairs a random image with a caption naming its index, so a tiny model can learn the
pairing; the Grain iterator is checkpointable like the real pipeline's.
"""

import os
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


def main(argv):
    workdir, steps, *rest = argv
    overrides = dict(item.split("=", 1) for item in rest)
    nan_at = overrides.pop("nan_at_record", None)
    sleep = float(overrides.pop("sleep_per_step", 0))
    from sarclip_jax.train import distributed, loop

    cfg = config(int(steps), **overrides)
    distributed.initialize(cfg.distributed)

    def fn(*args):
        return data_fn(*args, nan_at_record=int(nan_at) if nan_at else None, sleep_per_batch=sleep)

    result = loop.train(cfg, workdir, fn)
    print(f"RESULT {result.final_step} {result.stopped_by} {result.last_metrics.get('loss')}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main(sys.argv[1:])
