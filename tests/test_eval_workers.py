"""The evaluators' image input (the Grain eval pipeline): worker processes score exactly what
in-process reading scores, and process shards cover every item exactly once and gather back into
item order.

Module-level imports stay light: a spawned worker may import this module to unpickle what it runs.
"""

import ml_collections
import numpy as np
import pytest
from etils import epath

from sarclip_jax.data import batching
from sarclip_jax.evaluation import build_evaluator, embed
from sarclip_jax.evaluation.sources import open_set

ROOT = epath.Path(__file__).parent.parent / "tfds_sarclip"
FOLDER = ROOT / "sar_zeroshot" / "dummy_data"  # 8 images: a broken JPEG and a raw MSTAR chip among them
RELEASE = ROOT / "sarclip1m" / "dummy_data" / "release"


def test_worker_processes_score_exactly_like_in_process_reading(model, tokenizer):
    entry = dict(folder=str(FOLDER), class_names="mstar", templates="simple", batch_size=1)  # 8 batches
    runs = {}
    for workers in (0, 2):
        ev = build_evaluator("zero_shot", {**entry, "workers": workers}, tokenizer=tokenizer)
        runs[workers] = dict(ev.run(model)), ev.last
    (in_process, a), (in_workers, b) = runs[0], runs[2]
    assert (a.timings["workers"], b.timings["workers"]) == (0, 2)  # the second run really used 2 processes
    assert in_workers == in_process
    np.testing.assert_array_equal(b.result.predictions, a.result.predictions)
    assert b.failures == a.failures and [k for k, _ in a.failures] == ["2S1/HB09999.JPG"]
    assert b.counts == a.counts


def _shard_rows(items, batch_size, shard_index, shard_count):
    """One process's rows of the eval pipeline, as embed_images keeps them (the model left out)."""
    batches = list(batching.iterate(embed.image_batches(items, size=32, batch_size=batch_size,
                                                        shard_index=shard_index, shard_count=shard_count)))
    rows = {k: np.concatenate([b[k] for b in batches]) for k in ("image", "mask", "bad", "error", "index")}
    rows["position"] = batching.positions(len(items), batch_size, shard_index, shard_count)
    return len(batches), rows


def test_process_shards_cover_every_item_once_and_gather_into_item_order():
    data = open_set(ml_collections.ConfigDict({"csv": str(RELEASE / "train.csv")}), "captions")
    items, n = data.items, len(data.items)
    assert n == 8  # three of them broken: cut, 4-band, missing
    counts, shards = zip(*(_shard_rows(items, 2, p, 2) for p in range(2)), strict=True)
    assert counts == (2, 2)  # every process yields the same number of batches (the last padded)
    for rows in shards:
        real = rows["mask"] | rows["bad"]
        np.testing.assert_array_equal(rows["index"][real], rows["position"][real])
        assert np.all(rows["index"][~real] == -1) and np.all(rows["position"][~real] >= n)
    seen = np.concatenate([rows["index"][rows["mask"] | rows["bad"]] for rows in shards])
    assert sorted(seen.tolist()) == list(range(n))  # each item exactly once over the two processes

    # Stacked by process (what process_allgather gives), the rows go back into item order and
    # equal a single process's reading of the same items.
    merged = embed.in_item_order({k: np.concatenate([s[k] for s in shards]) for k in shards[0]}, n)
    single = embed.in_item_order(_shard_rows(items, 2, 0, 1)[1], n)
    assert merged["index"].tolist() == list(range(n))
    for k in ("image", "mask", "bad", "error"):
        np.testing.assert_array_equal(merged[k], single[k])
    failed = {items[i].key: batching.error_text(merged["error"][i]) for i in np.flatnonzero(merged["bad"])}
    assert set(failed) == {"data/train/cut.png", "data/train/four.tif", "data/train/missing.png"}
    assert "not found" in failed["data/train/missing.png"]

    with pytest.raises(RuntimeError, match="not one per item"):
        embed.in_item_order({k: np.concatenate([v, v]) for k, v in shards[0].items()}, n)
