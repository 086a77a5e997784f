"""The Grain pipelines on a source with damaged records: training replaces each by the next
readable record of its shard (deterministically, so batches keep their size and a resumed run
sees the same batches) and counts it; evaluation marks it `bad`, never scores it, and counts it;
text labels are numbered through the given classes."""

import collections
import json

import numpy as np
import pytest

from sarclip_jax.data import batching, sar_augment, sar_readers, sar_transforms
from sarclip_jax.data import pipeline as P

SIZE = 16
NO_AUG = sar_augment.Augment(speckle_prob=0.0)
CLASSES = ["ship", "tank"]


class Source:
    """Records with an 8-bit image whose pixels identify them; `truncated` ones have cut bytes,
    `unreadable` ones fail in the source itself (a damaged storage chunk)."""

    def __init__(self, n, truncated=(), unreadable=()):
        self.n, self.truncated, self.unreadable = n, set(truncated), set(unreadable)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i in self.unreadable:
            raise OSError(f"chunk holding record {i} is corrupt")
        data = sar_readers.encode_png(np.full((SIZE, SIZE), 7 * i, np.uint8))
        return {"image": data[:40] if i in self.truncated else data, "scale": b"display", "image_id": f"r{i}".encode(),
                "captions": [f"caption of {i} .".encode()], "label": CLASSES[i % 2].encode()}


def cfg(**kw):
    return P.PipelineConfig(**{"image_size": SIZE, "augment": NO_AUG, "read_threads": 1, "prefetch_batches": 0, **kw})


def which(image) -> int:
    """The record an image came from (its constant pixel value is 7 * index)."""
    value = np.round((image[0, 0, 0] * sar_transforms.OPENAI_STD[0] + sar_transforms.OPENAI_MEAN[0]) * 255)
    return int(value) // 7


def take(it, n):
    return [next(it) for _ in range(n)]


def test_training_replaces_bad_records_by_the_next_readable_one_and_counts_them():
    source = Source(24, truncated={3, 10}, unreadable={11})
    before = P.bad_record_count()
    batches = take(P.train_iterator(source, cfg(), global_batch=8, seed=0), 6)  # two epochs
    assert all(b["image"].shape == (8, SIZE, SIZE, 3) for b in batches)
    for epoch in (batches[:3], batches[3:]):
        seen = collections.Counter(which(x) for b in epoch for x in b["image"])
        expected = collections.Counter(i for i in range(24) if i not in {3, 10, 11})
        expected.update([4, 12, 12])  # 3 -> 4; 10 -> 11 (also bad) -> 12; 11 -> 12
        assert seen == expected
    assert P.bad_record_count() - before == 2 * 4  # per epoch: 3, then 10 and 11, then 11 again


def test_replacement_keeps_batch_for_batch_resume():
    source = Source(24, truncated={3, 10}, unreadable={11})
    uninterrupted = take(P.train_iterator(source, cfg(), 8, seed=1), 7)
    first = P.train_iterator(source, cfg(), 8, seed=1)
    take(first, 4)
    state = json.loads(json.dumps(first.get_state()))
    resumed = P.train_iterator(source, cfg(), 8, seed=1)
    resumed.set_state(state)
    for want, got in zip(uninterrupted[4:], take(resumed, 3)):
        np.testing.assert_array_equal(got["image"], want["image"])
        np.testing.assert_array_equal(got["text"], want["text"])


def test_a_shard_with_no_readable_record_stops_with_a_clear_error():
    source = Source(4, truncated={0, 1, 2, 3})
    with pytest.raises(P.BadDataError, match=r"4 training records in a row are unreadable \(#0 \(r0\)"):
        next(P.train_iterator(source, cfg(), 2, seed=0))


def test_eval_marks_bad_records_counts_them_and_scores_the_rest():
    source = Source(9, truncated={2}, unreadable={5})
    before = P.bad_record_count()
    batches = list(P.eval_iterator(source, cfg(), batch_size=4))
    bad = np.concatenate([b["bad"] for b in batches])
    mask = np.concatenate([b["mask"] for b in batches])
    index = np.concatenate([b["index"] for b in batches])
    images = np.concatenate([b["image"] for b in batches])
    assert np.flatnonzero(bad).tolist() == [2, 5] and index[[2, 5]].tolist() == [2, 5]  # named, not padding
    assert np.flatnonzero(mask).tolist() == [0, 1, 3, 4, 6, 7, 8]
    assert [which(images[i]) for i in np.flatnonzero(mask)] == [0, 1, 3, 4, 6, 7, 8]
    assert P.bad_record_count() - before == 2
    errors = np.concatenate([b["error"] for b in batches])
    assert batching.error_text(errors[5]) == "OSError: chunk holding record 5 is corrupt"
    assert batching.error_text(errors[2]).startswith("ImageDecodeError") and not errors[mask].any()


def test_eval_numbers_text_labels_through_the_classes():
    source = Source(5, truncated={1})
    batches = list(P.eval_iterator(source, cfg(), batch_size=3, fields="label", classes=CLASSES))
    labels = np.concatenate([b["label"] for b in batches])
    bad = np.concatenate([b["bad"] for b in batches])
    assert labels[:5].tolist() == [0, -1, 0, 1, 0] and bad[:5].tolist() == [False, True, False, False, False]
    # a label outside the classes is a bad record; no classes at all is a configuration error
    only_tanks = list(P.eval_iterator(source, cfg(), batch_size=3, fields="label", classes=["tank"]))
    assert np.concatenate([b["bad"] for b in only_tanks])[:5].tolist() == [True, True, True, False, True]
    with pytest.raises(P.LabelVocabularyError, match="pass classes"):
        list(P.eval_iterator(source, cfg(), batch_size=3, fields="label"))


class Counting(Source):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.reads = 0

    def __getitem__(self, i):
        self.reads += 1
        return super().__getitem__(i)


@pytest.mark.parametrize("cache_mib", [0.004, 1.0])  # room for a few records / for all of them
def test_the_record_cache_changes_no_batch_and_stays_within_its_budget(cache_mib):
    plain, cached = Counting(24, truncated={3}), Counting(24, truncated={3})
    speckle = sar_augment.Augment(speckle_prob=0.5)  # random draws on top of the cached images
    runs = [take(P.train_iterator(src, cfg(augment=speckle, record_cache_mib=mib), 8, seed=2), 9)  # 3 epochs
            for src, mib in ((plain, 0.0), (cached, cache_mib))]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["text"], b["text"])
    assert plain.reads == 3 * 25  # 24 positions per epoch, the bad record's replacement read too
    # With room for all, each readable record is read once; the bad one again in every epoch.
    if cache_mib >= 1:
        assert 24 + 2 <= cached.reads <= 25 + 2
    else:
        assert 25 + 2 < cached.reads < plain.reads
