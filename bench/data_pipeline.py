"""Training-pipeline throughput at 224 px, for 8-bit and float GeoTIFF input, against a plain
PIL decode-and-resize loop over the same files in the same run.

    python bench/data_pipeline.py                    # 128 images of 256 px, 3 timed passes
    python bench/data_pipeline.py --images 256 --size 512 --workers 2

It writes SAR-like images (8-bit PNG, and float32 amplitude GeoTIFF), builds each set as a
`sarclip1m/release` dataset (array_record), and times:
  * pipeline: tfds.data_source -> Grain (shuffle, decode, radiometry, speckle, CLIP resize/crop/
    normalise, caption tokenized, batch), one process and one decode thread unless --workers;
  * reference: for each file, PIL open + bicubic resize to 224 x 224 + float32 array.
Throughput is images per second of wall time, and per core: images per CPU-second of this
process (what one core does), or with --workers the wall rate divided by the workers (their CPU
time is not visible here). The ratio is pipeline / reference per core, for the same input.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def make_images(folder, n: int, size: int, kind: str, seed: int = 0) -> list[str]:
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    names = []
    for i in range(n):
        mean = np.exp(rng.normal(-3.0, 0.8, (size // 16, size // 16))).astype(np.float32)
        field = np.kron(mean, np.ones((16, 16), np.float32))
        intensity = field * rng.gamma(1.0, 1.0, field.shape).astype(np.float32)
        if kind == "uint8":
            db = 10 * np.log10(np.maximum(intensity, 1e-10))
            name = f"{i:05d}.png"
            Image.fromarray(np.round(np.clip((db + 25) / 30, 0, 1) * 255).astype(np.uint8)).save(
                os.path.join(folder, name))
        else:
            name = f"{i:05d}.tif"
            tifffile.imwrite(os.path.join(folder, name), np.sqrt(intensity), photometric="minisblack")
        names.append(name)
    with open(os.path.join(folder, "train.csv"), "w") as f:
        f.write("imgpath,caption\n" + "".join(f"{nm},a synthetic SAR scene number {i} .\n" for i, nm in enumerate(names)))
    return [os.path.join(folder, nm) for nm in names]


def build(manual_dir, data_dir):
    import tensorflow_datasets as tfds

    from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

    b = sarclip1m.Builder(config="release", data_dir=data_dir)
    b.download_and_prepare(file_format="array_record", download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir))
    return tfds.data_source("sarclip1m/release", split="train", data_dir=data_dir)


def time_pipeline(source, batch: int, passes: int, workers: int) -> tuple[float, float]:
    from sarclip_jax.data import pipeline

    cfg = pipeline.PipelineConfig(image_size=224, num_workers=workers, read_threads=1, prefetch_batches=1)
    it = pipeline.train_iterator(source, cfg, global_batch=batch, seed=0)
    next(it)  # warm-up: tokenizer, workers, caches
    steps = max(1, passes * len(source) // batch)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        b = next(it)
        assert b["image"].shape == (batch, 224, 224, 3)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    close = getattr(it, "close", None)
    if close is not None:  # stop prefetch threads/workers before the reference loop is timed
        close()
    del it
    gc.collect()
    return steps * batch / wall, steps * batch / cpu


def time_reference(files: list[str], passes: int) -> tuple[float, float]:
    from PIL import Image

    for f in files[:4]:  # warm-up
        Image.open(f).resize((224, 224), Image.BICUBIC)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(passes):
        for f in files:
            with Image.open(f) as im:
                x = np.asarray(im.resize((224, 224), Image.BICUBIC), np.float32)
            assert x.shape[:2] == (224, 224)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return passes * len(files) / wall, passes * len(files) / cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--size", type=int, default=256, help="source image side, px")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the images")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported")
    parser.add_argument("--workers", type=int, default=0, help="Grain worker processes (0: in-process)")
    args = parser.parse_args(argv)
    from absl import flags

    flags.FLAGS(sys.argv[:1], known_only=True)  # Grain's spawned workers read absl flags

    cores = os.cpu_count() or 1
    used = max(1, args.workers) if args.workers else 1
    print(f"machine: {cores} cores (os.cpu_count); pipeline uses {used} process(es) x 1 decode thread; "
          f"{args.images} images of {args.size} px -> 224 px, batch {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for kind, label in (("uint8", "8-bit PNG"), ("float32", "float32 GeoTIFF")):
            files = make_images(os.path.join(tmp, kind), args.images, args.size, kind)
            source = build(os.path.join(tmp, kind), os.path.join(tmp, f"tfds_{kind}"))
            pipe, ref = [], []
            for _ in range(args.repeats):  # interleaved, so load changes hit both alike
                pipe.append(time_pipeline(source, args.batch, args.passes, args.workers))
                ref.append(time_reference(files, args.passes))
            p_wall = statistics.median(w for w, _ in pipe)
            p_cpu = statistics.median(c for _, c in pipe)
            r_wall = statistics.median(w for w, _ in ref)
            r_cpu = statistics.median(c for _, c in ref)
            # Per core: images per CPU-second of this process when everything runs in it; with
            # worker processes (whose CPU time this process does not see), wall rate / workers.
            p_core = p_wall / args.workers if args.workers else p_cpu
            rows.append((label, p_wall, p_core, r_wall, r_cpu, p_core / r_cpu))
        print(f"{'input':<17} {'pipeline img/s':>15} {'img/s/core':>11} {'PIL loop img/s':>15} {'img/s/core':>11} "
              f"{'ratio':>6}")
        for label, pw, pc, rw, rc, ratio in rows:
            print(f"{label:<17} {pw:>15.1f} {pc:>11.1f} {rw:>15.1f} {rc:>11.1f} {ratio:>6.2f}")
        print(f"ratio = pipeline images/s per core / PIL decode+resize images/s per core, same files, same run, "
              f"on a {cores}-core machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
