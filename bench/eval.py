"""Zero-shot evaluation throughput: embeddings per second and where the time goes.

    python bench/eval.py                          # tiny model, 10,000 synthetic 64 px test images
    python bench/eval.py --models tiny,ViT-B-32 --images 2000 --batch 64
    python bench/eval.py --source memory --vocab bpe_simple_vocab_16e6.txt.gz   # no TFDS needed

Builds (once, in --data_dir) a sarclip1m synthetic test split of --images scenes (or, with
--source memory, the same kind of records in memory: PNG / float TIFF bytes), then for each model
in one process:
  1. the zero-shot evaluator (`eval.build_evaluator("zero_shot", ...)`): images read and
     prepared by a thread pool one batch ahead of the model;
  2. the reference: the same records, the same preparation and the same jitted model, one batch
     after another with nothing overlapped, timed per stage (read+prepare, model, metric).
The ratio is the evaluator's images/s over the reference's. Weights are random (speed does not
depend on them); each side's first batch (compilation) is reported apart and left out of the
steady rates. Timings on a shared CPU vary by tens of percent between runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sarclip_jax.data import sar_radiometry
from sarclip_jax.evaluation import build_evaluator, classification_metrics, embed
from sarclip_jax.evaluation import images as images_lib
from sarclip_jax.models import create_model, get_model_config
from sarclip_jax.text import prompts
from sarclip_jax.text.tokenizer import build_tokenizer
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits


def build_data(n: int, image_size: int, data_dir: str) -> str:
    import tensorflow_datasets as tfds

    from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

    tfds.disable_progress_bar()
    builder = sarclip1m.Builder(config=sarclip1m.synthetic_config(1, 1, n, image_size=image_size, seed=0),
                                data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record")
    return builder.info.full_name.rsplit("/", 1)[0]


def reference(model, evaluator, batch: int, tokenizer) -> dict[str, float]:
    """Sequential: read+prepare a batch, run the model, repeat; then the metric."""
    size = model.config.vision.image_size
    radiometry = sar_radiometry.Radiometry()
    forward = embed._image_forward()
    classifier = build_classifier(lambda t: embed.embed_texts(model, t, tokenizer, batch_size=256),
                                  evaluator.prompt_names, evaluator.templates)
    t = dict(input_s=0.0, model_s=0.0, first_batch_s=0.0, metric_s=0.0)
    outputs = []
    items = evaluator.items
    for start in range(0, len(items), batch):
        t0 = time.perf_counter()
        chunk = [images_lib.prepare(item.load(), size, "sar", radiometry) for item in items[start:start + batch]]
        x = np.zeros((batch, size, size, 3), np.float32)
        x[:len(chunk)] = np.stack(chunk)
        t1 = time.perf_counter()
        outputs.append(np.asarray(forward(model, x))[:len(chunk)])
        t2 = time.perf_counter()
        t["input_s"] += t1 - t0
        t["first_batch_s" if start == 0 else "model_s"] += t2 - t1
    t0 = time.perf_counter()
    result = classification_metrics.classification_metrics(
        zero_shot_logits(np.concatenate(outputs), classifier), evaluator.labels)
    t["metric_s"] = time.perf_counter() - t0
    t["top1"] = result.top_k[1]
    return t


def memory_records(n: int, image_size: int, float_fraction: float = 0.25) -> list[dict]:
    """Records shaped like the synthetic builder's (8-bit PNG or float32 intensity TIFF)."""
    from sarclip_jax.data import sar_readers
    from tfds_sarclip import synthetic

    records = []
    for i in range(n):
        rng = np.random.default_rng([0, 2, i])
        scene = synthetic.generate_scene(rng, image_size)
        stored_float = rng.random() < float_fraction
        pixels = scene.intensity if stored_float else synthetic.to_display_uint8(scene.intensity)
        records.append({"image": sar_readers.encode_lossless(pixels)[0], "scale": "intensity" if stored_float
                        else "display", "image_id": f"test/{i:07d}", "label": scene.objects[0][0]})
    return records


def bench_model(name: str, args, entry: dict, tokenizer, source) -> None:
    """The evaluator once per reader-thread count, then the sequential reference once."""
    import jax

    model = create_model(get_model_config(name, dtype=args.dtype), seed=0)
    print(f"\n== {name} (input {model.config.vision.image_size} px, {args.dtype}), batch {args.batch}, "
          f"{jax.device_count()} x {jax.devices()[0].device_kind}")
    ev, rates = None, {}
    for workers in (int(w) for w in args.workers.split(",")):
        ev = build_evaluator("zero_shot", {**entry, "workers": workers}, tokenizer=tokenizer, tfds_source=source)
        assert ev.prompt_names == list(prompts.SYNTHETIC_CLASSES)
        t0 = time.perf_counter()
        metrics = dict(ev.run(model))
        wall = time.perf_counter() - t0
        tm = ev.last.timings
        n = tm["images"]
        steady = wall - tm["first_batch_s"] - tm["text_s"]
        rates[workers] = n / steady
        print(f"evaluator, {workers} reader threads: {n} images in {wall:.2f}s wall -> {rates[workers]:.0f} images/s "
              f"steady (first batch {tm['first_batch_s']:.2f}s, class texts {tm['text_s']:.2f}s)")
        print(f"  model {tm['model_s']:.2f}s ({100 * tm['model_s'] / steady:.0f}%), waiting for input "
              f"{tm['input_s']:.2f}s ({100 * tm['input_s'] / steady:.0f}%), metric {tm['metric_s']:.3f}s "
              f"({100 * tm['metric_s'] / steady:.1f}%)")

    t0 = time.perf_counter()
    ref = reference(model, ev, args.batch, tokenizer)
    ref_wall = time.perf_counter() - t0
    ref_steady = ref["input_s"] + ref["model_s"] + ref["metric_s"]
    ref_rate = n / ref_steady
    print(f"reference (sequential): {ref_wall:.2f}s wall -> {ref_rate:.0f} images/s steady "
          f"(first batch {ref['first_batch_s']:.2f}s)")
    print(f"  read+prepare {ref['input_s']:.2f}s ({100 * ref['input_s'] / ref_steady:.0f}%), model "
          f"{ref['model_s']:.2f}s ({100 * ref['model_s'] / ref_steady:.0f}%), metric {ref['metric_s']:.3f}s "
          f"({100 * ref['metric_s'] / ref_steady:.1f}%)")
    # bfloat16 matmuls may order sums differently between the two runs; float32 must agree exactly.
    if args.dtype == "float32":
        assert abs(ref["top1"] - metrics["zero_shot/top1"]) < 1e-9, "the two paths must score the same"
    print("ratio evaluator / sequential: " + ", ".join(f"{w} threads {r / ref_rate:.2f}x" for w, r in rates.items())
          + f" (top-1 {metrics['zero_shot/top1']:.2f}% vs {ref['top1']:.2f}%)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="tiny", help="comma-separated model names")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--image_size", type=int, default=64, help="stored scene size (the model resizes)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", default="2", help="reader threads; comma-separated to compare several")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--source", choices=("tfds", "memory"), default="tfds")
    p.add_argument("--vocab", default="clip", help="tokenizer spec: 'clip' or a path to the CLIP BPE .gz")
    p.add_argument("--data_dir", default="/tmp/sarclip_bench_eval")
    args = p.parse_args()

    t0 = time.perf_counter()
    entry = dict(classes="synthetic", batch_size=args.batch)
    if args.source == "tfds":
        dataset, source = build_data(args.images, args.image_size, args.data_dir), None
        entry.update(dataset=dataset, data_dir=args.data_dir, split="test")
    else:
        dataset, source = "memory:synthetic", memory_records(args.images, args.image_size)
        entry.update(dataset=dataset)
    print(f"data: {dataset} ({args.images} test images, ready in {time.perf_counter() - t0:.1f}s)")
    tokenizer = build_tokenizer(args.vocab)
    for name in args.models.split(","):
        bench_model(name, args, entry, tokenizer, source)


if __name__ == "__main__":
    main()
