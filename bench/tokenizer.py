"""Captions per second: this project's CLIP BPE tokenizer against open_clip's, same process.

    python bench/tokenizer.py                 # 20,000 SAR captions + the varied parity corpus

Each tokenizer is built fresh (empty BPE cache) and run over the same texts, interleaved, for
--repeats rounds; the median round is reported. The ratio is ours over open_clip's captions/s.
Also checks that the ids agree. Needs the test extra (torch, open_clip_torch).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from sarclip_jax.convert.reference import open_clip
from sarclip_jax.text.clip_bpe import ClipTokenizer
from sarclip_jax.text.corpus import corpus, sar_caption


def timed(fn, texts) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn(texts)
    return time.perf_counter() - start, np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(0)
    sets = {"SAR captions": [sar_caption(rng) for _ in range(args.captions)], "varied corpus": corpus()}
    open_clip()  # imports open_clip the way the tests do (torchvision work-around)
    from open_clip.tokenizer import SimpleTokenizer

    for name, texts in sets.items():
        ours_s, ref_s = [], []
        for _ in range(args.repeats):
            t_ours, a = timed(ClipTokenizer(), texts)
            t_ref, b = timed(SimpleTokenizer(), texts)
            assert np.array_equal(a, b), f"{name}: ids differ from open_clip"
            ours_s.append(t_ours)
            ref_s.append(t_ref)
        ours, ref = len(texts) / statistics.median(ours_s), len(texts) / statistics.median(ref_s)
        print(f"{name:14s} n={len(texts):6d}  sarclip_jax {ours:9.0f}/s  open_clip {ref:9.0f}/s  "
              f"ratio {ours / ref:.2f}  (ids equal; cold cache, median of {args.repeats})")


if __name__ == "__main__":
    main()
