"""The start-of-training scan behind `data.exclude_sources`: each record's `source` field read from
the raw serialized examples (`pipeline.source_names`) against decoding every record, in one run.

    python bench/source_scan.py --dataset sarclip1m/synthetic_default --data_dir data/tensorflow_datasets
    python bench/source_scan.py --dataset sarclip1m/sources --split train --records 5000 --repeats 5

Prints milliseconds per record for both, the ratio (decoded / raw, medians of interleaved repeats)
and whether both read the same names.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="sarclip1m/synthetic_default")
    p.add_argument("--data_dir", default="data/tensorflow_datasets")
    p.add_argument("--split", default="train")
    p.add_argument("--records", type=int, default=0, help="the first N records (0: the whole split)")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()

    from sarclip_jax.data import pipeline, records, tfds_source

    split = f"{a.split}[:{a.records}]" if a.records else a.split
    source = tfds_source.open_source(a.dataset, split, a.data_dir)

    def raw():
        return list(pipeline.source_names(source))

    def decoded():
        return [records.text_of(source[i].get("source", "")) for i in range(len(source))]

    times = {"raw": [], "decoded": []}
    names = {}
    for _ in range(a.repeats):
        for label, fn in (("raw", raw), ("decoded", decoded)):
            start = time.perf_counter()
            names[label] = fn()
            times[label].append(time.perf_counter() - start)
    ms = {k: 1e3 * statistics.median(v) / len(source) for k, v in times.items()}
    print(f"{a.dataset} {split}: {len(source)} records, medians of {a.repeats} interleaved repeats")
    print(f"  raw field scan  {ms['raw']:.4f} ms/record")
    print(f"  decoded records {ms['decoded']:.4f} ms/record")
    print(f"  ratio decoded/raw {ms['decoded'] / ms['raw']:.2f}; same names: {names['raw'] == names['decoded']}")


if __name__ == "__main__":
    main()
