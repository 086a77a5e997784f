"""Windows cut off the centre of training scenes, found by the whole-view hash and by the shared
region search (`sarclip data overlap`), in one run; held-out scenes show the false matches.

    python bench/overlap_regions.py --dataset sarclip1m/synthetic_default --data_dir data/tensorflow_datasets

Plants `--planted` windows of random size (32 pixels up to the whole side) at random offsets of
random training scenes, stored as kept pixels, as JPEG q90, as JPEG q70 and resized to 75% (the
last three of 8-bit scenes only; the region search is translation-only and is not meant to find
the resized ones), then prints, per encoding, the share each method finds at its true source (and, for regions, at
its true offset), the ratio and the lowest NCC of a found window; the false matches among
`--distinct` held-out scenes and the highest NCC of any placement proposed for them (a second
search with no NCC threshold, the margin MIN_NCC sits in); the time per image of each pass (the
region search's is the last shard's: earlier shards are searched during the training pass).
"""

from __future__ import annotations

import argparse
import io
import time

ENCODINGS = ("kept", "jpeg q90", "jpeg q70", "resized 75%")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="sarclip1m/synthetic_default")
    p.add_argument("--data_dir", default="data/tensorflow_datasets")
    p.add_argument("--planted", type=int, default=300)
    p.add_argument("--distinct", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import numpy as np
    from PIL import Image

    from sarclip_jax.data import overlap, overlap_regions, records, tfds_source

    train = tfds_source.open_source(a.dataset, "train", a.data_dir)
    test = tfds_source.open_source(a.dataset, "test", a.data_dir)
    rng = np.random.default_rng(a.seed)

    planted = []  # (encoding, source index, offset, record)
    while len(planted) < a.planted:
        i = int(rng.integers(len(train)))
        pixels, scale = records.decode_image(train[i])
        h, w = pixels.shape[:2]
        n, m = int(rng.integers(32, h + 1)), int(rng.integers(32, w + 1))
        y, x = int(rng.integers(0, h - n + 1)), int(rng.integers(0, w - m + 1))
        if (y, x) == ((h - n) // 2, (w - m) // 2):
            continue  # off the centre only
        window = pixels[y:y + n, x:x + m]
        encoding = ENCODINGS[len(planted) % 4] if window.dtype == np.uint8 else "kept"
        if encoding == "kept":
            record = records.array_record(window, scale)
        elif encoding == "resized 75%":
            small = Image.fromarray(window).resize((max(1, m * 3 // 4), max(1, n * 3 // 4)), Image.BILINEAR)
            record = records.array_record(np.asarray(small), scale)
        else:
            buf = io.BytesIO()
            Image.fromarray(window).save(buf, "JPEG", quality=int(encoding[-2:]))
            record = {"image": buf.getvalue(), "scale": "display"}
        planted.append((encoding, i, (y, x), record))
    distinct = [test[j] for j in range(min(a.distinct, len(test)))]
    queries = [r for *_, r in planted] + distinct

    t0 = time.perf_counter()
    q_hashes = np.stack([overlap.perceptual_hashes(r) for r in queries])
    q_greys = [overlap_regions.grey(r) for r in queries]
    search = overlap_regions.RegionSearch(q_greys)
    t_queries = time.perf_counter() - t0
    chance = overlap_regions.RegionSearch(q_greys[len(planted):])
    t0 = time.perf_counter()
    t_hashes = []
    for i in range(len(train)):
        record = train[i]
        decoded = records.decode_image(record)
        t_hashes.append(overlap.perceptual_hashes(record, decoded=decoded))
        grey = overlap_regions.grey(record, decoded=decoded)
        t1 = time.perf_counter()
        chance.add(i, grey)  # not timed
        t0 += time.perf_counter() - t1
        search.add(i, grey)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    near = overlap.near_pairs(q_hashes, np.stack(t_hashes))
    t_near = time.perf_counter() - t0
    t0 = time.perf_counter()
    regions = search.matches()
    t_regions = time.perf_counter() - t0
    threshold = overlap_regions.MIN_NCC
    overlap_regions.MIN_NCC = -1.0
    by_chance = [m.ncc for found in chance.matches() for m in found]
    overlap_regions.MIN_NCC = threshold

    near_of = {}
    for q, c, _ in near:
        near_of.setdefault(q, set()).add(c)
    print(f"{a.dataset}: {len(train)} training scenes, {len(planted)} windows off the centre, "
          f"{len(distinct)} held-out scenes")
    print(f"{'encoding':<10} {'windows':>7} {'whole-view hash':>16} {'shared region':>14} {'ratio':>7} {'lowest NCC':>11}")
    for encoding in (*ENCODINGS, "all"):
        rows = [(k, e) for k, e in enumerate(planted) if encoding in ("all", e[0])]
        if not rows:
            continue
        by_hash = np.mean([e[1] in near_of.get(k, ()) for k, e in rows])
        hits = [[m.ncc for m in regions[k] if (m.train, (m.dy, m.dx)) == (e[1], e[2])] for k, e in rows]
        by_region = np.mean([bool(h) for h in hits])
        ratio = f"{by_region / by_hash:.1f}x" if by_hash else "-"
        lowest = min((h[0] for h in hits if h), default=float("nan"))
        print(f"{encoding:<10} {len(rows):>7} {by_hash:>16.1%} {by_region:>14.1%} {ratio:>7} {lowest:>11.3f}")
    held = range(len(planted), len(queries))
    print(f"false matches among {len(distinct)} held-out scenes: whole-view hash "
          f"{sum(bool(near_of.get(k)) for k in held)}, shared region {sum(bool(regions[k]) for k in held)}; "
          f"{len(by_chance)} chance placements (the best per scene pair), highest NCC "
          f"{max(by_chance, default=float('nan')):.3f} (threshold {threshold})")
    print(f"time: training pass {1e3 * t_train / len(train):.2f} ms/scene (both hashes), queries "
          f"{1e3 * t_queries / len(queries):.2f} ms/image, whole-view search {t_near:.1f} s, region search "
          f"{t_regions:.1f} s ({1e3 * t_regions / len(queries):.1f} ms/query)")


if __name__ == "__main__":
    main()
