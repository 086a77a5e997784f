"""Grain pipelines over a tiny synthetic TFDS build: batches, seeded randomness, mid-epoch resume,
per-process shards, eval padding with masks, zero-shot labels, worker processes."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from sarclip_jax.data import pipeline as P
from sarclip_jax.data import records, sar_augment, sar_transforms
from tfds_sarclip import features, synthetic
from tfds_sarclip.sar_zeroshot import sar_zeroshot_dataset_builder as zeroshot_builder
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

SIZE = 32
N_TRAIN, N_TEST = 40, 13
NO_AUG = sar_augment.Augment(speckle_prob=0.0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfds")
    cfg = sarclip1m.synthetic_config(N_TRAIN, 4, N_TEST, image_size=48, seed=1, float_fraction=0.5)
    builder = sarclip1m.Builder(config=cfg, data_dir=str(d))
    builder.download_and_prepare(file_format="array_record")
    return d, builder.info.full_name.rsplit("/", 1)[0]


def config(data_dir, **kw):
    d, name = data_dir
    return P.PipelineConfig(dataset=name, data_dir=str(d), image_size=SIZE, **kw)


def take(it, n):
    return [next(it) for _ in range(n)]


def key(image):
    return np.round(image, 4).tobytes()


def assert_texts_resume(src, cfg, seed, total, stop=2):
    """An iterator restored from its state after `stop` batches draws the same texts."""
    uninterrupted = take(P.train_iterator(src, cfg, 8, seed=seed), total)
    first = P.train_iterator(src, cfg, 8, seed=seed)
    take(first, stop)
    resumed = P.train_iterator(src, cfg, 8, seed=seed)
    resumed.set_state(json.loads(json.dumps(first.get_state())))  # what a checkpoint stores
    for expected, got in zip(uninterrupted[stop:], take(resumed, total - stop)):
        np.testing.assert_array_equal(got["text"], expected["text"])


def eval_images(cfg, split="train"):
    src = P.data_source(cfg, split)
    return [sar_transforms.image_for_model(src[i], cfg.image_size, cfg.radiometry, None) for i in range(len(src))]


def test_train_batches_have_the_trainer_contract(data_dir):
    cfg = config(data_dir)
    batch = next(P.train_iterator(P.data_source(cfg), cfg, global_batch=8, seed=0))
    assert set(batch) == {"image", "text"}
    assert batch["image"].shape == (8, SIZE, SIZE, 3) and batch["image"].dtype == np.float32
    assert batch["text"].shape == (8, 77) and batch["text"].dtype == np.int32
    assert np.all(np.isfinite(batch["image"]))
    assert np.all(batch["text"][:, 0] == 49406)  # CLIP start token
    # normalised with OpenAI mean/std: [0, 1] maps to [-mean/std, (1-mean)/std] per channel
    mean, std = np.asarray(sar_transforms.OPENAI_MEAN), np.asarray(sar_transforms.OPENAI_STD)
    lo, hi = batch["image"].min(axis=(0, 1, 2)), batch["image"].max(axis=(0, 1, 2))
    assert np.all(lo >= -mean / std - 1e-5) and np.all(hi <= (1 - mean) / std + 1e-5)
    assert np.all(hi - lo > 1.0)  # a real dynamic range, not a constant


def test_epochs_cover_every_record_once_and_reshuffle(data_dir):
    cfg = config(data_dir, augment=NO_AUG)
    reference = sorted(key(x) for x in eval_images(cfg))
    batches = take(P.train_iterator(P.data_source(cfg), cfg, global_batch=8, seed=0), 10)
    epoch1 = [key(x) for b in batches[:5] for x in b["image"]]
    epoch2 = [key(x) for b in batches[5:] for x in b["image"]]
    assert sorted(epoch1) == reference and sorted(epoch2) == reference
    assert epoch1 != epoch2


def test_seeded_and_deterministic(data_dir):
    cfg = config(data_dir)
    a = take(P.train_iterator(P.data_source(cfg), cfg, 8, seed=3), 3)
    b = take(P.train_iterator(P.data_source(cfg), cfg, 8, seed=3), 3)
    c = take(P.train_iterator(P.data_source(cfg), cfg, 8, seed=4), 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["text"], y["text"])
    assert not np.array_equal(a[0]["image"], c[0]["image"])


@pytest.mark.parametrize("stop_after", [3, 7])  # mid-epoch, and mid-second-epoch
def test_resume_mid_epoch_gives_the_same_batches(data_dir, stop_after):
    cfg = config(data_dir)
    uninterrupted = take(P.train_iterator(P.data_source(cfg), cfg, 8, seed=5), 12)
    first = P.train_iterator(P.data_source(cfg), cfg, 8, seed=5)
    take(first, stop_after)
    saved = json.loads(json.dumps(first.get_state()))  # what a checkpoint stores
    del first
    resumed = P.train_iterator(P.data_source(cfg), cfg, 8, seed=5)
    resumed.set_state(saved)
    for expected, got in zip(uninterrupted[stop_after:], take(resumed, 12 - stop_after)):
        np.testing.assert_array_equal(got["image"], expected["image"])
        np.testing.assert_array_equal(got["text"], expected["text"])


def test_captions_are_drawn_among_the_records_captions(data_dir):
    cfg = config(data_dir, augment=NO_AUG)
    src = P.data_source(cfg)
    tok = P._Tokenize("clip", 77)
    by_image = {key(img): {tuple(t) for t in tok(records.captions_of(src[i]))}
                for i, img in enumerate(eval_images(cfg))}
    drawn = {}
    for b in take(P.train_iterator(src, cfg, 8, seed=0), 25):  # five epochs
        for img, text in zip(b["image"], b["text"]):
            assert tuple(text) in by_image[key(img)]
            drawn.setdefault(key(img), set()).add(tuple(text))
    assert np.mean([len(v) for v in drawn.values()]) > 2  # a fresh choice each epoch


def test_process_shards_are_disjoint_and_cover_the_split(data_dir):
    cfg = config(data_dir, augment=NO_AUG)
    seen = []
    for p in range(2):
        it = P.train_iterator(P.data_source(cfg), cfg, global_batch=8, shard_index=p, shard_count=2, seed=0)
        batches = take(it, 5)  # 20 records per shard = one epoch of the shard
        assert batches[0]["image"].shape[0] == 4
        seen.append({key(x) for b in batches for x in b["image"]})
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {key(x) for x in eval_images(cfg)}
    with pytest.raises(ValueError, match="divisible"):
        P.train_iterator(P.data_source(cfg), cfg, global_batch=9, shard_index=0, shard_count=2)


def test_eval_sees_every_example_once_with_padding_and_masks(data_dir):
    cfg = config(data_dir)
    src = P.data_source(cfg, "test")
    reference = eval_images(cfg, "test")
    tok = P._Tokenize("clip", 77)
    found = []
    counts = []
    for p in range(2):
        batches = list(P.eval_iterator(src, cfg, batch_size=4, shard_index=p, shard_count=2))
        counts.append(len(batches))
        for b_idx, b in enumerate(batches):
            assert b["image"].shape == (4, SIZE, SIZE, 3) and b["text"].shape == (4, 5, 77)
            expected_positions = b_idx * 8 + p * 4 + np.arange(4)
            np.testing.assert_array_equal(np.where(b["mask"], b["index"], -1),
                                          np.where(expected_positions < N_TEST, expected_positions, -1))
            for i in range(4):
                if b["mask"][i]:
                    found.append(int(b["index"][i]))
                    np.testing.assert_allclose(b["image"][i], reference[b["index"][i]], atol=1e-6)
                    caps = records.captions_of(src[int(b["index"][i])])
                    np.testing.assert_array_equal(b["text"][i][:len(caps)], tok(caps))
                    assert b["text_mask"][i].sum() == len(caps)
                else:
                    assert b["index"][i] == -1 and not b["text_mask"][i].any()
                    assert not b["image"][i].any() and not b["text"][i].any()
    assert counts == [2, 2]  # equal number of batches on every process
    assert sorted(found) == list(range(N_TEST))


def test_zero_shot_eval_yields_labels(tmp_path):
    root = tmp_path / "tfds"
    b = zeroshot_builder.Builder(config="folder", data_dir=str(root))
    b.download_and_prepare(file_format="array_record", download_config=tfds.download.DownloadConfig(
        manual_dir=str(zeroshot_builder.epath.Path(zeroshot_builder.__file__).parent / "dummy_data")))
    cfg = P.PipelineConfig(dataset="sar_zeroshot/folder", data_dir=str(root), image_size=SIZE)
    src = P.data_source(cfg, "test")
    batches = list(P.eval_iterator(src, cfg, batch_size=3, fields="label"))
    labels = np.concatenate([x["label"] for x in batches])
    mask = np.concatenate([x["mask"] for x in batches])
    assert mask.sum() == len(src) == 7 and np.all(labels[~mask] == -1)
    assert sorted(labels[mask].tolist()) == sorted(int(src[i]["label"]) for i in range(len(src)))
    assert all(np.isfinite(x["image"]).all() for x in batches)


def test_float_and_8bit_copies_of_a_scene_give_the_same_model_input():
    scene = synthetic.generate_scene(np.random.default_rng(0), 64)
    common = {"source": "t", "captions": ["x"], "scale": "intensity"}
    as_float = features.to_example(features.RawRecord(image_id="f", load=lambda: scene.intensity, **common))
    common["scale"] = "display"
    as_uint8 = features.to_example(features.RawRecord(
        image_id="u", load=lambda: synthetic.to_display_uint8(scene.intensity), **common))
    cfg = P.PipelineConfig()  # default db window (-25, 5) dB = the synthetic 8-bit mapping
    a = sar_transforms.image_for_model(as_float, 48, cfg.radiometry, None)
    b = sar_transforms.image_for_model(as_uint8, 48, cfg.radiometry, None)  # PIL's uint8 path
    # 8-bit quantisation, and PIL rounding between its two resize passes, separate them slightly
    level = 1 / 255 / 0.26
    assert np.abs(a - b).mean() < 0.5 * level and np.percentile(np.abs(a - b), 99) < 3 * level
    assert np.abs(a - b).max() < 8 * level


def test_augmentations_change_images_but_stay_finite(data_dir):
    plain = config(data_dir, augment=NO_AUG)
    heavy = config(data_dir, augment=sar_augment.Augment(speckle_prob=1.0, dihedral=True, crop_scale=(0.5, 0.9)))
    a = next(P.train_iterator(P.data_source(plain), plain, 8, seed=0))
    b = next(P.train_iterator(P.data_source(heavy), heavy, 8, seed=0))
    assert np.all(np.isfinite(b["image"])) and b["image"].shape == a["image"].shape
    assert np.abs(a["image"] - b["image"]).mean() > 0.05
    np.testing.assert_array_equal(a["text"], b["text"])  # the same records, the same caption draws


def test_config_from_dict_refuses_typos():
    cfg = P.PipelineConfig.from_dict({"image_size": 64, "radiometry": {"mode": "percentile"},
                                      "augment": {"speckle_looks": [1.0, 4.0]}})
    assert cfg.radiometry.mode == "percentile" and cfg.augment.speckle_looks == (1.0, 4.0)
    with pytest.raises(ValueError, match="imagesize"):
        P.PipelineConfig.from_dict({"imagesize": 64})


def test_worker_processes_give_the_same_batches_and_resume(data_dir):
    cfg = config(data_dir)
    reference = take(P.train_iterator(P.data_source(cfg), cfg, 8, seed=2), 6)
    mp_cfg = dataclasses.replace(cfg, num_workers=2)
    it = P.train_iterator(P.data_source(mp_cfg), mp_cfg, 8, seed=2)
    got = take(it, 3)
    state = json.loads(json.dumps(it.get_state()))
    resumed = P.train_iterator(P.data_source(mp_cfg), mp_cfg, 8, seed=2)
    resumed.set_state(state)
    got += take(resumed, 3)
    for expected, batch in zip(reference, got):
        np.testing.assert_array_equal(batch["image"], expected["image"])
        np.testing.assert_array_equal(batch["text"], expected["text"])


def test_untouched_8bit_images_get_exactly_clips_preprocessing(data_dir):
    from sarclip_jax.data import preprocess, sar_readers

    cfg = config(data_dir)
    src = P.data_source(cfg, "test")
    checked = 0
    for i in range(len(src)):
        record = src[i]
        if records.text_of(record["scale"]) != "display":
            continue
        expected = preprocess.preprocess_image(sar_readers.decode_image_bytes(record["image"]), SIZE)
        np.testing.assert_array_equal(sar_transforms.image_for_model(record, SIZE, cfg.radiometry, None), expected)
        checked += 1
    assert checked >= 3


def test_iterator_checkpoints_through_orbax_like_the_trainer(data_dir, tmp_path):
    import grain
    import orbax.checkpoint as ocp

    cfg = config(data_dir)
    expected = take(P.train_iterator(P.data_source(cfg), cfg, 8, seed=9), 6)[3:]
    it = P.train_iterator(P.data_source(cfg), cfg, 8, seed=9)
    take(it, 3)
    options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False, create=True)
    with ocp.CheckpointManager(tmp_path / "ckpt", options=options, item_names=("data",),
                               item_handlers={"data": grain.checkpoint.CheckpointHandler()}) as mngr:
        mngr.save(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
        mngr.wait_until_finished()
        fresh = P.train_iterator(P.data_source(cfg), cfg, 8, seed=9)
        mngr.restore(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(fresh)))
    for want, got in zip(expected, take(fresh, 3)):
        np.testing.assert_array_equal(got["image"], want["image"])
        np.testing.assert_array_equal(got["text"], want["text"])


def test_caption_kinds_are_stored_and_weight_the_draw(data_dir):
    cfg = config(data_dir, augment=NO_AUG, caption_weights={"counting": 1.0, "general": 0.0, "absolute": 0.0,
                                                            "relative": 0.0, "absolute_count": 0.0})
    src = P.data_source(cfg)
    from tfds_sarclip import captions as captions_lib

    assert records.caption_kinds_of(src[0]) == list(captions_lib.KINDS)
    tok = P._Tokenize("clip", 77)
    counting = {key(img): tuple(tok([records.captions_of(src[i])[1]])[0]) for i, img in enumerate(eval_images(cfg))}
    for b in take(P.train_iterator(src, cfg, 8, seed=0), 10):
        for img, text in zip(b["image"], b["text"]):
            assert tuple(text) == counting[key(img)]
    assert_texts_resume(src, cfg, seed=3, total=6)  # resumes exactly with weights too


def test_weighted_caption_draw_follows_the_weights():
    record = {"captions": [b"a", b"b", b"c"], "caption_kinds": [b"general", b"counting", b"unknown"]}
    rng = np.random.default_rng(0)
    drawn = [sar_transforms.pick_caption(record, rng, {"general": 3.0, "counting": 0.0}) for _ in range(4000)]
    share = {c: drawn.count(c) / len(drawn) for c in "abc"}
    assert share["b"] == 0 and abs(share["a"] - 0.75) < 0.03 and abs(share["c"] - 0.25) < 0.03  # unknown weighs 1
    old = {"captions": [b"a", b"b"]}  # built before kinds were stored: every kind unknown
    assert records.caption_kinds_of(old) == ["unknown", "unknown"]
    assert sar_transforms.pick_caption(old, rng, {"unknown": 0.0}) in ("a", "b")  # all zero: uniform
    with pytest.raises(ValueError, match="caption_weights must be finite and >= 0"):
        P.PipelineConfig(caption_weights={"general": -1.0})


def test_caption_ids_mark_equal_caption_texts(data_dir):
    from sarclip_jax.text.caption_ids import caption_id_pair

    cfg = config(data_dir, caption_ids=True)
    src = P.data_source(cfg)
    batch = next(P.train_iterator(src, cfg, 16, seed=2))
    ids, text = batch["caption_ids"], batch["text"]
    assert ids.shape == (16, 2) and ids.dtype == np.int32
    for i in range(16):
        for j in range(16):
            assert (ids[i] == ids[j]).all() == (text[i] == text[j]).all()  # same tokens, same caption text
    caption = records.captions_of(src[0])[0]
    np.testing.assert_array_equal(caption_id_pair(caption), caption_id_pair(caption.upper() + " ."))


def test_label_ids_group_records_by_label(data_dir):
    from sarclip_jax.text.caption_ids import caption_id_pair, label_id_pair

    cfg = config(data_dir, label_ids=True)
    src = P.data_source(cfg)
    transform = P.TrainTransform(cfg, src)
    labels = [records.text_of(src[i]["label"]) for i in range(8)]
    assert len(set(labels)) > 1
    rows = [transform(i, np.random.default_rng(i))["label_ids"] for i in range(8)]
    for i in range(8):
        np.testing.assert_array_equal(rows[i], label_id_pair(labels[i]))
        for j in range(8):
            assert (rows[i] == rows[j]).all() == (labels[i] == labels[j])
    # A label's id is not the id of a caption that happens to read like the label.
    assert (label_id_pair("ship") != caption_id_pair("ship")).any()
    assert "caption_ids" not in transform(0, np.random.default_rng(0))
    unlabelled = dict(src[0], label=b"")  # its group is its own caption's text
    both = config(data_dir, label_ids=True, caption_ids=True)
    example = P.TrainTransform(both, [unlabelled])(0, np.random.default_rng(0))
    np.testing.assert_array_equal(example["label_ids"], example["caption_ids"])
    numbered = dict(src[0], label=np.int64(0))  # sources that number their classes
    np.testing.assert_array_equal(P.TrainTransform(cfg, [numbered])(0, np.random.default_rng(0))["label_ids"],
                                  label_id_pair("0"))


def test_several_captions_per_image_are_distinct_captions_of_that_image(data_dir):
    cfg = config(data_dir, augment=NO_AUG, captions_per_image=3, caption_ids=True, label_ids=True)
    src = P.data_source(cfg)
    tok = P._Tokenize("clip", 77)
    by_image = {key(img): [tuple(t) for t in tok(records.captions_of(src[i]))]
                for i, img in enumerate(eval_images(cfg))}
    assert min(len(set(c)) for c in by_image.values()) >= 3  # every record has 3 distinct captions
    batch = next(P.train_iterator(src, cfg, 8, seed=0))
    assert batch["text"].shape == (8, 3, 77) and batch["caption_ids"].shape == (8, 3, 2)
    assert batch["label_ids"].shape == (8, 2)  # one label per image
    for img, texts, ids in zip(batch["image"], batch["text"], batch["caption_ids"]):
        own = by_image[key(img)]
        assert all(tuple(t) in own for t in texts) and len({tuple(t) for t in texts}) == 3
        assert len({tuple(i) for i in ids}) == 3
    assert_texts_resume(src, cfg, seed=5, total=4)  # resumes exactly, as with one caption
    with pytest.raises(ValueError, match="captions_per_image must be >= 1"):
        config(data_dir, captions_per_image=0)


def test_drawing_several_captions_keeps_the_weights_and_repeats_only_when_short():
    record = {"captions": [b"a", b"b", b"c", b"d"], "caption_kinds": [b"general", b"counting", b"general", b"x"]}
    rng = np.random.default_rng(0)
    for _ in range(200):
        drawn = sar_transforms.pick_captions(record, rng, 3)
        assert len(set(drawn)) == 3
        no_counting = sar_transforms.pick_captions(record, rng, 4, {"counting": 0.0})
        assert "b" not in no_counting and set(no_counting) == {"a", "c", "d"}  # 3 allowed: one repeats
    short = {"captions": [b"only"]}
    assert sar_transforms.pick_captions(short, rng, 3) == ["only"] * 3
    # One caption is exactly the single draw, so existing runs draw the same captions.
    one, single = np.random.default_rng(7), np.random.default_rng(7)
    assert [sar_transforms.pick_captions(record, one, 1, {"general": 2.0})[0] for _ in range(50)] == [
        sar_transforms.pick_caption(record, single, {"general": 2.0}) for _ in range(50)]
