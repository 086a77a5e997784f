"""Evaluation image throughput: the evaluator against its two stages alone, and the old thread pool.

    python bench/eval.py                               # tiny model, 2,000 synthetic 64 px test images
    python bench/eval.py --images 4000 --workers 1,2   # two worker counts
    python bench/eval.py --models ViT-B-32 --images 384 --batch 32 --workers 1,2
    python bench/eval.py --xla_cores 1                 # XLA's CPU threads pinned to one core
    python bench/eval.py --source memory               # records in memory (no TFDS build)

Builds (once, in --data_dir) a sarclip1m synthetic test split of --images scenes (or, with
--source memory, the same kind of records in memory: PNG / float TIFF bytes), then for each
model, in one process and with the same jitted model, batch size and records, measures
(--repeats times, interleaved; medians):
  model-only   the model on batches prepared beforehand (no reading at all);
  input-only   the evaluators' Grain eval pipeline (`evaluation.embed.image_batches`, --workers
               worker processes) iterated without the model;
  evaluator    the zero-shot evaluator (`build_evaluator("zero_shot", ...).run`): the two together;
  thread pool  REFERENCE ONLY, the old way re-implemented here (it is gone from the library): a
               thread pool of --workers threads reading and preparing one batch ahead of the
               model, in the process that drives the model.
Rates are steady: the model's first batch (compilation) and the wait for each worker's first
batch (worker start-up, reported apart) are left out of every figure. The headline is
evaluator / min(model-only, input-only): 1.0 means the evaluator runs as fast as its slower
stage allows. On a machine with few cores the two stages share them, so the evaluator cannot
reach the slower stage's solo rate when each stage alone keeps every core busy: the bench
measures the cores each stage keeps busy alone (this process, XLA's threads and the workers,
via psutil) and prints the rate that sharing the cores allows at best (per image, the model's
core-seconds plus the input's). Timings on a shared CPU vary by tens of percent between runs:
compare figures of one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import time


def _xla_cores_from_argv() -> set[int] | None:
    """--xla_cores N: pin this thread to N cores before JAX starts, so the XLA CPU client's threads
    (created from it) run there; `main` then gives this thread, and the Grain workers it spawns,
    every core back. Returns all the cores, to restore."""
    for i, a in enumerate(sys.argv):
        value = a.split("=", 1)[1] if a.startswith("--xla_cores=") else (
            sys.argv[i + 1] if a == "--xla_cores" and i + 1 < len(sys.argv) else None)
        if value and int(value) > 0:
            cores = os.sched_getaffinity(0)
            os.sched_setaffinity(0, set(sorted(cores)[:int(value)]))
            return cores
    return None


if __name__ == "__main__":
    ALL_CORES = _xla_cores_from_argv()

import numpy as np

# The project is imported inside the functions: Grain's spawned workers re-import this script
# (as __mp_main__), and should not pay for JAX models and the evaluators they never use.


def build_data(n: int, image_size: int, data_dir: str) -> str:
    import tensorflow_datasets as tfds

    from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

    tfds.disable_progress_bar()
    builder = sarclip1m.Builder(config=sarclip1m.synthetic_config(1, 1, n, image_size=image_size, seed=0),
                                data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record")
    return builder.info.full_name.rsplit("/", 1)[0]


def cpu_seconds() -> float:
    """CPU time of this process and of its live children (the Grain workers), so far."""
    import psutil

    total = time.process_time()
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:  # gone meanwhile
            pass
    return total


def model_only(model, items, batch: int) -> tuple[float, float]:
    """(images/s of the model alone, on a few batches prepared beforehand and cycled over
    len(items); cores it kept busy)."""
    from sarclip_jax.evaluation import images as images_lib
    from sarclip_jax.models import encode

    size = model.config.vision.image_size
    prepare = images_lib.Prepare(size)
    ready = [np.stack([prepare(items[(b * batch + j) % len(items)].image.load())["image"] for j in range(batch)])
             for b in range(4)]
    np.asarray(encode.image_features(model, ready[0]))  # compiled (and warm) before timing
    steps = max(1, -(-len(items) // batch) - 1)  # the batches the other figures time (all but the first)
    t0, c0 = time.perf_counter(), cpu_seconds()
    for b in range(steps):
        np.asarray(encode.image_features(model, ready[b % len(ready)]))
    wall = time.perf_counter() - t0
    return steps * batch / wall, (cpu_seconds() - c0) / wall


def input_only(items, size: int, batch: int, workers: int) -> tuple[float, float]:
    """(images/s of the eval pipeline alone once every worker has delivered its first batch, as
    the evaluator's timings count them; cores it kept busy meanwhile, workers included)."""
    from sarclip_jax.data import batching
    from sarclip_jax.evaluation import embed

    started, images = None, 0
    it = batching.iterate(embed.image_batches(items, size=size, batch_size=batch, workers=workers))
    for b, batch_arrays in enumerate(it):
        if b < max(1, workers):
            started, c0 = time.perf_counter(), cpu_seconds()
            continue
        images += int(batch_arrays["mask"].sum())
        wall, cpu = time.perf_counter() - started, cpu_seconds() - c0  # while the workers are alive
    it.close()
    return images / wall, cpu / wall


def evaluator(model, entry: dict, tokenizer, source, workers: int, batch: int) -> tuple[float, dict, dict]:
    from sarclip_jax.evaluation import build_evaluator

    ev = build_evaluator("zero_shot", {**entry, "workers": workers}, tokenizer=tokenizer, tfds_source=source)
    metrics = dict(ev.run(model))
    tm = ev.last.timings
    steady = tm["model_s"] + tm["input_s"]
    return (tm["images"] - batch) / steady, tm, metrics


def old_thread_pool(model, items, batch: int, workers: int) -> float:
    """REFERENCE ONLY: the evaluators' former input path (removed from the library), re-implemented
    for comparison. `workers` threads read and prepare the next batch while the model runs on this
    one, all in the process that drives the model (the threads and the model share the GIL)."""
    from sarclip_jax.evaluation import images as images_lib
    from sarclip_jax.models import encode

    size = model.config.vision.image_size
    prepare = images_lib.Prepare(size)

    def load(item):
        try:
            return prepare(item.image.load())["image"]
        except Exception:  # counted as failed, as the old path did
            return None

    chunks = [items[s:s + batch] for s in range(0, len(items), batch)]
    timed, images = 0.0, 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        upcoming = [pool.submit(load, it) for it in chunks[0]]
        for b in range(len(chunks)):
            t0 = time.perf_counter()
            current = upcoming
            upcoming = [pool.submit(load, it) for it in chunks[b + 1]] if b + 1 < len(chunks) else []
            prepared = [x for x in (f.result() for f in current) if x is not None]
            x = np.zeros((batch, size, size, 3), np.float32)
            x[:len(prepared)] = np.stack(prepared)
            np.asarray(encode.image_features(model, x))
            if b > 0:  # the first batch (compilation) is left out, as in the other figures
                timed += time.perf_counter() - t0
                images += len(prepared)
    return images / timed


def memory_records(n: int, image_size: int, float_fraction: float = 0.25) -> list[dict]:
    """Records shaped like the synthetic builder's (8-bit PNG or float32 intensity TIFF)."""
    from sarclip_jax.data import sar_readers
    from tfds_sarclip import synthetic

    out = []
    for i in range(n):
        rng = np.random.default_rng([0, 2, i])
        scene = synthetic.generate_scene(rng, image_size)
        stored_float = rng.random() < float_fraction
        pixels = scene.intensity if stored_float else synthetic.to_display_uint8(scene.intensity)
        out.append({"image": sar_readers.encode_lossless(pixels)[0], "scale": "intensity" if stored_float
                    else "display", "image_id": f"test/{i:07d}", "label": scene.objects[0][0]})
    return out


def _fmt(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 100 else f"{rate:.1f}"


def bench_model(name: str, args, entry: dict, tokenizer, source) -> None:
    import jax

    from sarclip_jax.evaluation import build_evaluator
    from sarclip_jax.models import create_model, get_model_config

    model = create_model(get_model_config(name, dtype=args.dtype), seed=0)
    size = model.config.vision.image_size
    items = build_evaluator("zero_shot", entry, tokenizer=tokenizer, tfds_source=source).items
    workers = [int(w) for w in str(args.workers).split(",")]
    cores = len(os.sched_getaffinity(0))
    print(f"\n== {name} (input {size} px, {args.dtype}), batch {args.batch}, {len(items)} images, "
          f"{jax.device_count()} x {jax.devices()[0].device_kind}, {cores} cores, "
          f"XLA pinned to {args.xla_cores or 'all'} cores")
    rates: dict[str, list[float]] = {"model-only": []}
    busy: dict[str, list[float]] = {"model-only": []}
    for w in workers:
        rates.update({f"input-only, {w} workers": [], f"evaluator, {w} workers": [],
                      f"thread pool (old), {w} threads": []})
        busy[f"input-only, {w} workers"] = []
    starts: dict[int, list[float]] = {w: [] for w in workers}
    top1 = set()

    def add(key, value):
        rate, used = value if isinstance(value, tuple) else (value, None)
        rates[key].append(rate)
        if used is not None:
            busy[key].append(used)

    for r in range(args.repeats):
        add("model-only", model_only(model, items, args.batch))
        for w in workers:
            add(f"input-only, {w} workers", input_only(items, size, args.batch, w))
            rate, tm, metrics = evaluator(model, entry, tokenizer, source, w, args.batch)
            add(f"evaluator, {w} workers", rate)
            assert tm["workers"] == w, f"the evaluator ran {tm['workers']} workers, not {w}: give more --images"
            starts[w].append(tm["input_start_s"])
            top1.add(round(metrics["zero_shot/top1"], 9))
            add(f"thread pool (old), {w} threads", old_thread_pool(model, items, args.batch, w))
        print(f"  repeat {r + 1}: " + ", ".join(f"{k} {_fmt(v[-1])}" for k, v in rates.items()) + " images/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    med_busy = {k: statistics.median(v) for k, v in busy.items() if v}
    print(f"\n| {name}, batch {args.batch}, {cores} cores | images/s (median of {args.repeats}) | cores busy |")
    print("|---|---:|---:|")
    for k, v in med.items():
        print(f"| {k} | {_fmt(v)} | {f'{med_busy[k]:.2f}' if k in med_busy else ''} |")
    for w in workers:
        inp, ev_key = f"input-only, {w} workers", f"evaluator, {w} workers"
        ev = med[ev_key]
        bound = min(med["model-only"], med[inp])
        # Per repeat (the stages measured minutes apart drift together on a shared machine).
        per_repeat = [e / min(m, i) for e, m, i in zip(rates[ev_key], rates["model-only"], rates[inp], strict=True)]
        # Both stages on the same cores: per image the model needs busy_m / rate_m core-seconds and
        # the input busy_i / rate_i, so `cores` cores cannot run both faster than this.
        shared = cores / (med_busy["model-only"] / med["model-only"] + med_busy[inp] / med[inp])
        print(f"{w} workers: ratio evaluator / min(model-only, input-only) = {ev / bound:.2f} (per repeat: "
              f"{', '.join(f'{x:.2f}' for x in per_repeat)}); evaluator / old thread pool = "
              f"{ev / med[f'thread pool (old), {w} threads']:.2f}; sharing {cores} cores, both stages at once "
              f"can reach at most {_fmt(min(bound, shared))} images/s (the evaluator reaches "
              f"{ev / min(bound, shared):.2f} of that); worker start-up (until each worker's first batch) "
              f"{statistics.median(starts[w]):.1f}s, outside the rates")
    assert len(top1) == 1, f"the evaluator's top-1 changed between runs: {top1}"


def main() -> None:
    from sarclip_jax.text.tokenizer import build_tokenizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="tiny", help="comma-separated model names")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--image_size", type=int, default=64, help="stored scene size (the model resizes)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", default="2", help="Grain worker processes (and old-way threads); comma-separated "
                                                  "to compare several")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--xla_cores", type=int, default=0, help="pin XLA's CPU threads to this many cores (0: all); "
                                                             "the Grain workers keep every core")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--source", choices=("tfds", "memory"), default="tfds")
    p.add_argument("--vocab", default="clip", help="tokenizer spec: 'clip' or a path to the CLIP BPE .gz")
    p.add_argument("--data_dir", default="/tmp/sarclip_bench_eval")
    args = p.parse_args()
    if args.xla_cores:
        import jax.numpy as jnp

        x = jnp.ones((512, 512))
        (x @ x).block_until_ready()  # the XLA client and its threads exist now, on the pinned cores
        os.sched_setaffinity(0, ALL_CORES)
    from absl import flags

    flags.FLAGS(sys.argv[:1], known_only=True)  # Grain's spawned workers read absl flags

    t0 = time.perf_counter()
    entry = dict(classes="synthetic", batch_size=args.batch)
    if args.source == "tfds":
        dataset, source = build_data(args.images, args.image_size, args.data_dir), None
        entry.update(dataset=dataset, data_dir=args.data_dir, split="test")
    else:  # the same kind of records in memory (a list pickles into the workers)
        dataset, source = "memory:synthetic", memory_records(args.images, args.image_size)
        entry.update(dataset=dataset)
    print(f"data: {dataset} ({args.images} test images, ready in {time.perf_counter() - t0:.1f}s)")
    tokenizer = build_tokenizer(args.vocab)
    for name in args.models.split(","):
        bench_model(name, args, entry, tokenizer, source)


if __name__ == "__main__":
    main()
