"""Evaluators end to end on a tiny model: TFDS synthetic scenes, a class-folder tree and caption
CSVs, with broken images counted rather than scored; their numbers are held to a direct
computation through sarclip_jax.api on the same records."""

import collections
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from sarclip_jax import api
from sarclip_jax.data import records, sar_radiometry, sar_transforms
from sarclip_jax.evaluation import build_evaluator
from sarclip_jax.evaluation import images as images_lib
from sarclip_jax.evaluation.classification_metrics import classification_metrics
from sarclip_jax.evaluation.retrieval_metrics import evaluate_retrieval, subset_indices
from sarclip_jax.text import prompts
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits
from tfds_sarclip import synthetic
from tfds_sarclip.sarclip1m import sarclip1m_dataset_builder as sarclip1m

ROOT = epath.Path(__file__).parent.parent / "tfds_sarclip"
FOLDER = ROOT / "sar_zeroshot" / "dummy_data"
RELEASE = ROOT / "sarclip1m" / "dummy_data" / "release"
N_TEST = 24


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfds")
    builder = sarclip1m.Builder(config=sarclip1m.synthetic_config(2, 2, N_TEST, image_size=32, seed=5), data_dir=str(d))
    builder.download_and_prepare(file_format="array_record")
    name = builder.info.full_name.rsplit("/", 1)[0]
    return dict(dataset=name, data_dir=str(d), split="test"), tfds.data_source(name, split="test", data_dir=str(d))


class Damaged:
    """A data source whose records at `bad` carry truncated image bytes."""

    def __init__(self, source, bad):
        self.source, self.bad = source, set(bad)

    def __len__(self):
        return len(self.source)

    def __getitem__(self, i):
        record = dict(self.source[i])
        if i in self.bad:
            record["image"] = bytes(record["image"])[:40]
        return record


def direct_image_embeddings(model, records):
    size = model.config.vision.image_size
    x = np.stack([sar_transforms.image_for_model(r, size, sar_radiometry.Radiometry()) for r in records])
    return api.encode_image(model, x, batch_size=8)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def test_zero_shot_on_tfds_matches_a_direct_computation_and_counts_broken_images(data, model, tokenizer, tmp_path):
    fields, source = data
    damaged = Damaged(source, bad=[3, 7])
    ev = build_evaluator("zero_shot", dict(kind="zero_shot", classes="synthetic", batch_size=8, **fields),
                         tokenizer=tokenizer, tfds_source=damaged)
    metrics = dict(ev.run(model))

    good = [i for i in range(N_TEST) if i not in (3, 7)]
    records = [source[i] for i in good]
    labels = np.array([prompts.SYNTHETIC_CLASSES.index(text(r["label"])) for r in records])
    classifier = build_classifier(lambda t: api.encode_text(model, t, tokenizer), prompts.SYNTHETIC_CLASSES, "sar")
    expected = classification_metrics(zero_shot_logits(direct_image_embeddings(model, records), classifier), labels)
    assert set(metrics) == {"zero_shot/top1", "zero_shot/top3", "zero_shot/top5", "zero_shot/mean_per_class",
                            "zero_shot/top1_in_scene"}
    for k in (1, 3, 5):
        assert metrics[f"zero_shot/top{k}"] == pytest.approx(expected.top_k[k])
    assert metrics["zero_shot/mean_per_class"] == pytest.approx(expected.mean_per_class)
    assert ev.last.counts["images_failed"] == 2 and ev.last.counts["images_scored"] == N_TEST - 2
    assert [k for k, _ in ev.last.failures] == [text(source[3]["image_id"]), text(source[7]["image_id"])]

    files = ev.write_report(tmp_path / "zs", {"checkpoint": "random-tiny", "step": 3})
    results = json.loads(files["results"].read_text())
    assert results["checkpoint"] == "random-tiny" and results["split"] == "test"
    assert results["dataset"] == fields["dataset"] and results["templates"]["set"] == "sar"
    assert len(results["templates"]["templates"]) == 9 and results["counts"]["images_failed"] == 2
    assert results["metrics"]["top1"] == pytest.approx(expected.top_k[1])
    assert np.array(results["confusion_matrix"]).sum() == N_TEST - 2
    assert {"jax", "flax", "numpy", "python"} <= set(results["software"])
    assert [f["item"] for f in results["failed_to_load"]] == [text(source[3]["image_id"]), text(source[7]["image_id"])]
    md = files["markdown"].read_text()
    assert f"| {expected.top_k[1]:.2f} |" in md and "failed to load: 2" in md
    # Top-1 by where the label stands among the scene's objects, against a per-scene count.
    right = collections.defaultdict(list)
    for r, y, p in zip(records, labels, expected.predictions, strict=True):
        objects = [text(c) for c in r["objects"]["label"]]
        most = max(objects.count(c) for c in objects)
        leaders = {c for c in objects if objects.count(c) == most}
        case = ("one class" if set(objects) == {text(r["label"])} else "label outnumbered"
                if text(r["label"]) not in leaders else "label tied" if len(leaders) > 1 else "label leads")
        right[case].append(y == p)
    got = {g["standing"]: (g["images"], g["top1"]) for g in results["by_label_standing"]}
    assert got == {c: (len(v), pytest.approx(100 * np.mean(v))) for c, v in right.items()}
    assert "one class" in got and sum(n for n, _ in got.values()) == N_TEST - 2
    assert "| one class |" in md
    in_scene = [prompts.SYNTHETIC_CLASSES[p] in {text(c) for c in r["objects"]["label"]}
                for r, p in zip(records, expected.predictions, strict=True)]
    assert metrics["zero_shot/top1_in_scene"] == pytest.approx(100 * np.mean(in_scene))
    assert metrics["zero_shot/top1_in_scene"] >= metrics["zero_shot/top1"]  # the label is always in its scene
    with Image.open(str(files["confusion_matrix"])) as im:
        assert im.format == "PNG" and min(im.size) > 200


def test_one_to_one_retrieval_subset_and_dropped_pairs_match_a_direct_computation(data, model, tokenizer, tmp_path):
    fields, source = data
    chosen = subset_indices(N_TEST, 10, seed=4)
    broken = int(chosen[2])
    ev = build_evaluator("retrieval", dict(protocol="one_to_one", subset_size=10, subset_seed=4, caption_index=1,
                                           batch_size=8, **fields),
                         tokenizer=tokenizer, tfds_source=Damaged(source, [broken]))
    metrics = dict(ev.run(model))

    kept = [int(i) for i in chosen if i != broken]
    records = [source[i] for i in kept]
    images = direct_image_embeddings(model, records)
    texts = api.encode_text(model, [text(r["captions"][1]) for r in records], tokenizer)
    expected = evaluate_retrieval(images, texts, "one_to_one").metrics
    assert metrics == pytest.approx({f"retrieval/{k}": v for k, v in {
        "i2t_r@1": expected["I2T_R@1"], "i2t_r@5": expected["I2T_R@5"], "i2t_r@10": expected["I2T_R@10"],
        "i2t_mean_recall": expected["I2T_MeanRecall"], "t2i_r@1": expected["T2I_R@1"],
        "t2i_r@5": expected["T2I_R@5"], "t2i_r@10": expected["T2I_R@10"],
        "t2i_mean_recall": expected["T2I_MeanRecall"], "r@1": expected["R@1"], "r@5": expected["R@5"],
        "r@10": expected["R@10"], "mean_recall": expected["MeanRecall"]}.items()})
    counts = ev.last.counts
    assert (counts["images_listed"], counts["images_failed"], counts["images_scored"], counts["captions_scored"]) == \
        (10, 1, 9, 9)

    files = ev.write_report(tmp_path / "rt", {"checkpoint": "random-tiny"})
    results = json.loads(files["results"].read_text())
    assert results["protocol"]["name"] == "one_to_one" and results["protocol"]["subset_size"] == 10
    assert results["metrics"]["MeanRecall"] == pytest.approx(expected["MeanRecall"])
    assert len(results["recall_curve"]["k"]) == 9 and results["recall_curve"]["i2t"][-1] == 100.0
    assert "| MeanRecall |" in files["markdown"].read_text()
    with Image.open(str(files["recall_curve"])) as im:
        assert im.format == "PNG"


def test_multi_caption_retrieval_scores_every_caption(data, model, tokenizer):
    fields, source = data
    ev = build_evaluator("retrieval", dict(protocol="multi_caption", batch_size=8, **fields), tokenizer=tokenizer)
    metrics = dict(ev.run(model))
    records = [source[i] for i in range(N_TEST)]
    captions = [[text(c) for c in r["captions"]] for r in records]
    owner = np.repeat(np.arange(N_TEST), [len(c) for c in captions])
    texts = api.encode_text(model, [c for cs in captions for c in cs], tokenizer)
    expected = evaluate_retrieval(direct_image_embeddings(model, records), texts, "multi_caption", owner).metrics
    assert metrics["retrieval/mean_recall"] == pytest.approx(expected["MeanRecall"])
    assert metrics["retrieval/i2t_r@1"] == pytest.approx(expected["I2T_R@1"])
    assert ev.last.counts["captions_scored"] == len(owner) == 5 * N_TEST
    assert dict(ev.run(model)) == metrics  # the trainer calls run() again and again: nothing carries over
    kinds = ev.last.to_json()["per_caption_kind"]
    assert set(kinds) == {"general", "counting", "absolute", "relative", "absolute_count"}
    assert all(r["captions"] == N_TEST for r in kinds.values())


def test_any_match_retrieval_treats_captions_of_one_text_as_one(data, model, tokenizer):
    from sarclip_jax.text.caption_ids import caption_id

    fields, source = data
    ev = build_evaluator("retrieval", dict(protocol="any_match", batch_size=8, **fields), tokenizer=tokenizer)
    metrics = dict(ev.run(model))
    records = [source[i] for i in range(N_TEST)]
    captions = [c for r in records for c in (text(x) for x in r["captions"])]
    owner = np.repeat(np.arange(N_TEST), [len(r["captions"]) for r in records])
    groups = np.array([caption_id(c) for c in captions])
    assert len(set(groups.tolist())) < len(captions)  # the synthetic captions do repeat
    texts = api.encode_text(model, captions, tokenizer)
    expected = evaluate_retrieval(direct_image_embeddings(model, records), texts, "any_match", owner,
                                  text_group=groups).metrics
    assert metrics["retrieval/t2i_r@1"] == pytest.approx(expected["T2I_R@1"])
    assert ev.last.to_json()["protocol"]["name"] == "any_match"


def test_files_prepare_like_stored_records_and_the_clip_pipeline_differs_only_on_float_data(data, tmp_path):
    from sarclip_jax.data import sar_readers

    _, source = data
    by_scale = {text(source[i]["scale"]): source[i] for i in range(N_TEST)}
    assert set(by_scale) == {"display", "intensity"}
    display, intensity = by_scale["display"], by_scale["intensity"]
    # An 8-bit product: the official CLIP path and the project's path are the same computation.
    np.testing.assert_array_equal(images_lib.prepare(display, 64, "clip"), images_lib.prepare(display, 64, "sar"))
    # Float intensity: the clip path rounds to 8 bits before resizing (PIL's two uint8 passes clip
    # bicubic overshoot in between), so it differs, by little on average.
    gap = np.abs(images_lib.prepare(intensity, 64, "clip") - images_lib.prepare(intensity, 64, "sar"))
    assert gap.max() > 0 and gap.mean() < 0.02
    # The same pixels from files give the same model input as from the stored records.
    for name, record, scale in (("d.png", display, "amplitude"), ("i.tif", intensity, "intensity")):
        pixels, _ = records.decode_image(record)
        path = epath.Path(tmp_path) / name
        path.write_bytes(sar_readers.encode_lossless(pixels)[0])
        from_file = records.file_record(path, scale, name)
        assert text(from_file["scale"]) == text(record["scale"])
        np.testing.assert_array_equal(images_lib.prepare(from_file, 64), images_lib.prepare(record, 64))


def test_class_folder_with_a_broken_jpeg_a_raw_chip_and_a_stray_file(model, tokenizer, tmp_path):
    ev = build_evaluator("zero_shot", dict(folder=str(FOLDER), class_names="mstar", templates="simple", batch_size=8),
                         tokenizer=tokenizer)
    assert ev.data.class_names == ["2S1", "BRDM_2", "T72"]
    assert ev.prompt_names == ["2S1 self-propelled howitzer", "BRDM-2 armored reconnaissance vehicle", "T-72 tank"]
    assert ev.data.skipped == {"not_an_image": ["T72/notes.txt"]}
    metrics = dict(ev.run(model))
    assert set(metrics) == {"zero_shot/top1", "zero_shot/top3", "zero_shot/mean_per_class"}  # 3 classes: no top-5
    assert ev.last.counts == {"images_listed": 8, "images_failed": 1, "images_scored": 7,
                                 "skipped": {"not_an_image": 1}}
    assert ev.last.failures[0][0] == "2S1/HB09999.JPG"
    assert ev.last.result.class_counts.tolist() == [2, 2, 3]  # the raw MSTAR chip is read and scored
    assert metrics["zero_shot/top3"] == 100.0
    ev.write_report(tmp_path, {"checkpoint": "x"})
    assert {p.name for p in epath.Path(tmp_path).iterdir()} == {"results.json", "report.md", "confusion_matrix.png"}


def test_caption_csvs_official_list_and_broken_rows(model, tokenizer):
    official = build_evaluator("retrieval", dict(csv=str(RELEASE / "retrieval_file_list.csv"), batch_size=8),
                               tokenizer=tokenizer)
    dict(official.run(model))
    assert official.last.counts["images_scored"] == 2 and official.last.counts["images_failed"] == 0

    grouped = build_evaluator("retrieval", dict(csv=str(RELEASE / "train.csv"), protocol="multi_caption",
                                                batch_size=8), tokenizer=tokenizer)
    assert grouped.items[0].captions == ("two ships in the upper left .", "ships near the coast .")
    grouped.run(model)
    failed = {k: reason for k, reason in grouped.last.failures}
    assert set(failed) == {"data/train/cut.png", "data/train/four.tif", "data/train/missing.png"}
    assert "not found" in failed["data/train/missing.png"] and "4 bands" in failed["data/train/four.tif"]
    assert grouped.last.counts["captions_scored"] == 5  # a.png's two, b, c and 002


def test_mesh_split_batches_give_the_same_numbers(data, model, tokenizer):
    import jax

    from sarclip_jax import sharding

    assert jax.device_count() == 8
    fields, source = data
    mesh = sharding.make_mesh(sharding.MeshConfig(data=-1, fsdp=1, tensor=1))
    entry = dict(kind="zero_shot", classes="synthetic", batch_size=8, **fields)
    plain = dict(build_evaluator("zero_shot", entry, tokenizer=tokenizer).run(model))
    meshed = dict(build_evaluator("zero_shot", entry, tokenizer=tokenizer, mesh=mesh).run(model))
    assert meshed == pytest.approx(plain)
    with pytest.raises(ValueError, match="does not split over the mesh's 8 data shards"):
        build_evaluator("zero_shot", {**entry, "batch_size": 6}, tokenizer=tokenizer, mesh=mesh).run(model)


def test_config_typos_and_wrong_inputs_are_refused(data):
    fields, _ = data
    with pytest.raises(ValueError, match=r"unknown config keys \['templtes'\]"):
        build_evaluator("zero_shot", dict(templtes="sar", **fields))
    with pytest.raises(ValueError, match="unknown evaluator kind 'zeroshot'"):
        build_evaluator("zeroshot", fields)
    with pytest.raises(ValueError, match="exactly one of"):
        build_evaluator("retrieval", dict(fields, folder=str(FOLDER)))
    with pytest.raises(ValueError, match="retrieval protocol must be one of"):
        build_evaluator("retrieval", dict(protocol="rsicd", **fields))
    with pytest.raises(ValueError, match="labels, not captions"):
        build_evaluator("retrieval", dict(folder=str(FOLDER)))
    with pytest.raises(ValueError, match=r"no readable name for labels \['BRDM_2'\]"):
        build_evaluator("zero_shot", dict(folder=str(FOLDER), class_names={"2S1": "howitzer", "T72": "tank"}))


def test_synthetic_class_vocabulary_is_what_the_generator_draws():
    drawn = {label for i in range(200)
             for label, _ in synthetic.generate_scene(np.random.default_rng([3, i]), size=32).objects}
    assert drawn == set(prompts.SYNTHETIC_CLASSES)
    assert set(prompts.READABLE_CLASS_NAMES["synthetic"]) == set(prompts.SYNTHETIC_CLASSES)


def test_the_counted_zero_shot_prompts_are_the_captions_counting_sentences(data):
    """zero_shot_counted names each class as the generator's captions name a leading class: its
    plural in the counting sentence ("there are three vehicles and one building in ...")."""
    from sarclip_jax.config_loading import load_config
    from tfds_sarclip import captions

    fields, _ = data
    job = epath.Path(__file__).parent.parent / "eval" / "synthetic_test.py"
    entry = load_config(f"{job}:dataset={fields['dataset']},data_dir={fields['data_dir']}").evals.zero_shot_counted
    ev = build_evaluator("zero_shot", {**entry.to_dict(), "name": "zero_shot_counted"})
    assert dict(zip(ev.data.class_names, ev.prompt_names)) == {
        "ship": "ships", "oil slick": "oil slicks", "vehicle": "vehicles", "aircraft": "aircraft",
        "building": "buildings", "storage tank": "storage tanks"}
    box = (0.1, 0.1, 0.2, 0.2)
    scene = captions.Scene(objects=[("vehicle", box)] * 3 + [("building", box)])
    sentences = {captions.counting(scene, np.random.default_rng(seed)) for seed in range(20)}
    assert "there are three vehicles and one building in this SAR image." in sentences
    assert "there are three vehicles in this SAR image." in [t.format("vehicles") for t in entry.templates]


def test_the_training_configs_eval_entries_are_accepted(data):
    """Every key the embedded training config puts in an evaluator entry is a known one."""
    from sarclip_jax.config_loading import load_config

    fields, _ = data
    cfg = load_config(str(epath.Path(__file__).parent.parent / "configs" / "default.py"))
    assert set(cfg.evals) == {"zero_shot", "zero_shot_counted", "retrieval", "retrieval_any_match"}
    for name, entry in cfg.evals.items():
        entry = {**entry.to_dict(), **fields, "name": name}
        ev = build_evaluator(entry["kind"], entry)
        assert ev.name == name and ev.items


def test_the_synthetic_job_with_a_probe_fits_on_the_training_split(data):
    from sarclip_jax.config_loading import load_config

    fields, _ = data
    job = epath.Path(__file__).parent.parent / "eval" / "synthetic_test.py"
    cfg = load_config(f"{job}:probe=True,dataset={fields['dataset']},data_dir={fields['data_dir']}")
    assert set(cfg.evals) == {"zero_shot", "zero_shot_counted", "retrieval", "retrieval_any_match", "linear_probe"}
    assert "linear_probe" not in load_config(str(job)).evals  # off unless asked for
    ev = build_evaluator("linear_probe", {**cfg.evals.linear_probe.to_dict(), "name": "linear_probe"})
    assert (len(ev.train_items), len(ev.test_items)) == (2, N_TEST)


def test_boxes_named_otherwise_than_the_labels_give_no_scene_scores(data, model, tokenizer):
    class Renamed(Damaged):  # every object box renamed: the labels no longer appear among them
        def __getitem__(self, i):
            record = dict(self.source[i])
            record["objects"] = {**record["objects"], "label": np.array([b"box"] * len(record["objects"]["label"]))}
            return record

    fields, source = data
    ev = build_evaluator("zero_shot", dict(kind="zero_shot", classes="synthetic", batch_size=8, **fields),
                         tokenizer=tokenizer, tfds_source=Renamed(source, bad=[]))
    assert "zero_shot/top1_in_scene" not in dict(ev.run(model)) and ev.last.by_standing == ()
