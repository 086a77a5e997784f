"""Evaluator result objects: each renders its JSON and Markdown under the official metric names,
draws its figures and knows its chance level; built here from the pure metric functions, no model."""

import dataclasses
import json
import math
import types

import ml_collections
import numpy as np
import pytest
from etils import epath

from sarclip_jax.evaluation import linear_probe_metrics as lpm
from sarclip_jax.evaluation import report
from sarclip_jax.evaluation.classification_metrics import (
    chance_top1,
    classification_metrics,
)
from sarclip_jax.evaluation.linear_probe import LinearProbeReport
from sarclip_jax.evaluation.retrieval import RetrievalReport
from sarclip_jax.evaluation.retrieval_metrics import chance_recall, evaluate_retrieval
from sarclip_jax.evaluation.zero_shot import ZeroShotReport

RUN_INFO = {"checkpoint": "runs/a/model", "step": 12}


def common(kind, **counts):
    counts = {"images_listed": 0, "images_failed": 0, "images_scored": 0, "skipped": {}, **counts}
    return dict(kind=kind, name=kind, dataset="sarclip1m/synthetic", split="test", image_pipeline="sar",
                radiometry={"mode": "db_window"}, config={"kind": kind, "batch_size": 8}, counts=counts,
                failures=(("img/7.png", "truncated"),), timings={"model_s": 0.5})


def written(result, out):
    """What write() puts on disk: results.json parsed, report.md, the files dict."""
    files = result.write(out, RUN_INFO)
    return json.loads(files["results"].read_text()), files["markdown"].read_text(), files


def retrieval_report(n=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, 8))
    texts = images + 0.8 * rng.standard_normal((n, 8))
    result = evaluate_retrieval(images, texts, "one_to_one")
    return RetrievalReport(**common("retrieval", images_listed=n + 1, images_failed=1, images_scored=n,
                                    captions_listed=n + 1, captions_scored=n),
                           result=result, subset_size=5000, subset_seed=0)


def test_retrieval_report_renders_the_official_names(tmp_path):
    rep = retrieval_report()
    official = ["I2T_R@1", "I2T_R@5", "I2T_R@10", "I2T_MeanRecall", "T2I_R@1", "T2I_R@5", "T2I_R@10",
                "T2I_MeanRecall", "R@1", "R@5", "R@10", "MeanRecall"]
    assert list(rep.metrics) == official
    assert [k for k, _ in rep.headline()] == [
        "retrieval/i2t_r@1", "retrieval/i2t_r@5", "retrieval/i2t_r@10", "retrieval/i2t_mean_recall",
        "retrieval/t2i_r@1", "retrieval/t2i_r@5", "retrieval/t2i_r@10", "retrieval/t2i_mean_recall",
        "retrieval/r@1", "retrieval/r@5", "retrieval/r@10", "retrieval/mean_recall"]
    results, md, files = written(rep, tmp_path)
    assert list(results["metrics"]) == official and results["metrics"]["MeanRecall"] == pytest.approx(
        rep.metrics["MeanRecall"])
    assert results["protocol"]["name"] == "one_to_one" and results["protocol"]["subset_size"] == 5000
    assert results["checkpoint"] == "runs/a/model" and results["run_info"] == RUN_INFO
    assert results["failed_to_load"] == [{"item": "img/7.png", "reason": "truncated"}]
    assert results["recall_curve"]["k"] == list(range(1, 13)) and results["recall_curve"]["t2i"][-1] == 100.0
    m = rep.metrics
    assert md.startswith("# Retrieval: sarclip1m/synthetic (test)\n")
    assert "- checkpoint: `runs/a/model`, step 12" in md and "failed to load: 1 (listed in results.json" in md
    assert f"| R@5 | {m['I2T_R@5']:.2f} | {m['T2I_R@5']:.2f} | {m['R@5']:.2f} |" in md
    assert f"| MeanRecall | {m['I2T_MeanRecall']:.2f} | {m['T2I_MeanRecall']:.2f} | **{m['MeanRecall']:.2f}** |" in md
    assert "- protocol: `one_to_one`" in md and "- captions scored: 12" in md
    assert set(files) == {"results", "markdown", "recall_curve"} and files["recall_curve"].name == "recall_at_k.png"
    assert files["recall_curve"].read_bytes().startswith(b"\x89PNG")
    assert rep.to_markdown(RUN_INFO) == md  # write() adds nothing of its own


def test_zero_shot_report_with_a_class_without_images(tmp_path):
    # 4 classes; class 3 has no test image: its accuracy is undefined ("–", null), and top-5 is absent.
    logits = np.array([[3, 1, 0, 0], [0, 2, 1, 0], [1, 0, 0, 2], [0, 0, 5, 1], [0, 1, 2, 0]], float)
    labels = np.array([0, 1, 1, 2, 2])
    result = classification_metrics(logits, labels)
    rep = ZeroShotReport(**common("zero_shot", images_listed=5, images_scored=5), result=result,
                         class_names=("2S1", "BMP2", "T72", "ZSU234"), prompt_names=("a", "b", "c", "d"),
                         templates=("a SAR image of {}.", "{}."), template_set="custom", class_name_set="")
    assert rep.headline() == [("zero_shot/top1", 80.0), ("zero_shot/top3", 100.0),
                              ("zero_shot/mean_per_class", pytest.approx(250 / 3))]
    results, md, files = written(rep, tmp_path)
    assert results["metrics"] == {"top1": 80.0, "top3": 100.0, "mean_per_class": pytest.approx(250 / 3)}
    assert results["per_class"][3] == {"class": "ZSU234", "prompt_name": "d", "images": 0, "accuracy": None}
    assert results["class_names"] == {"set": "", "labels": ["2S1", "BMP2", "T72", "ZSU234"],
                                      "prompt_names": ["a", "b", "c", "d"]}
    assert results["templates"] == {"set": "custom", "templates": ["a SAR image of {}.", "{}."]}
    assert np.array(results["confusion_matrix"]).sum() == 5 and results["protocol"]["name"] == "sarclip_zero_shot"
    assert "| top-1 | top-3 | mean per-class |" in md and "| 80.00 | 100.00 | **83.33** |" in md
    assert "| ZSU234 | d | 0 | – |" in md and "| BMP2 | b | 2 | 50.00 |" in md
    assert "- templates: `custom` (2); class names: `as_is`; 4 classes" in md
    assert files["confusion_matrix"].name == "confusion_matrix.png"
    assert rep.chance() == "top1 25.0% (uniform guess), 40.0% (always the most frequent class)"


def test_linear_probe_report(tmp_path):
    rng = np.random.default_rng(0)
    centres = 4 * np.eye(3, 6)
    train_y, test_y = np.repeat(np.arange(3), 5), np.repeat(np.arange(3), [4, 4, 2])
    train_x = centres[train_y] + rng.standard_normal((15, 6))
    test_x = centres[test_y] + rng.standard_normal((10, 6))
    settings = lpm.linear_probe(train_x, train_y, test_x, test_y, 3, shots=(1, 0), seeds=(0, 1))
    rep = LinearProbeReport(**common("linear_probe", images_listed=25, images_scored=25, train_images=15,
                                     test_images=10),
                            settings=tuple(settings), class_names=("a", "b", "c"), train_split="train",
                            shots=(1, 0), seeds=(0, 1), C=1.0, max_iter=1000, standardize=True)
    names = [k for k, _ in rep.headline()]
    assert names == ["linear_probe/1shot_top1", "linear_probe/1shot_top1_std", "linear_probe/1shot_mean_per_class",
                     "linear_probe/full_top1", "linear_probe/full_top1_std", "linear_probe/full_mean_per_class"]
    results, md, files = written(rep, tmp_path)
    assert set(results["metrics"]) == {"1shot", "full"} and results["metrics"]["1shot"]["runs"] == 2
    assert [r["seed"] for r in results["runs"]["1shot"]] == [0, 1] and results["runs"]["full"][0]["train_images"] == 15
    assert results["protocol"]["shots"] == [1, 0] and results["class_names"] == ["a", "b", "c"]
    full = rep.summaries["full"]
    assert (f"| full | {full['top1_mean']:.2f} ± 0.00 | {full['mean_per_class_mean']:.2f} ± 0.00 | 1 | 15 |") in md
    assert "- train split `train`: 15 images; test split `test`: 10 images; 3 classes" in md
    assert files["few_shot"].name == "few_shot.png"
    assert rep.chance() == "top1 33.3% (uniform guess), 40.0% (always the most frequent class)"


@pytest.mark.parametrize("n_img,n_cap,text", [
    (100, 100, "t2i R@10 10.0%, i2t R@10 10.0%"),
    (1000, 5000, "t2i R@10 1.0%, i2t R@10 1.0%"),  # README's main-job numbers at random
    (2, 2, "t2i R@10 100.0%, i2t R@10 100.0%"),  # fewer candidates than K: every query is a hit
    (4, 9, "t2i R@10 100.0%, i2t R@10 100.0%"),
])
def test_retrieval_chance_level(n_img, n_cap, text):
    rep = dataclasses.replace(retrieval_report(), result=types.SimpleNamespace(
        num_images=n_img, num_captions=n_cap, metrics=retrieval_report().metrics))
    assert rep.chance() == text


def test_chance_formulas_match_counting():
    for n_img, per_image, k in ((50, 1, 10), (30, 5, 10), (7, 3, 5), (12, 2, 1)):
        n_cap = n_img * per_image
        i2t, t2i = chance_recall(n_img, n_cap, k)
        # P(at least one of the image's captions among k drawn without replacement)
        assert i2t == pytest.approx(100 * (1 - math.comb(n_cap - per_image, k) / math.comb(n_cap, k)))
        assert t2i == pytest.approx(100 * min(k, n_img) / n_img)
    assert chance_top1(np.array([2, 2, 3])) == pytest.approx((100 / 3, 300 / 7))
    with pytest.raises(ValueError, match="at least one caption each"):
        chance_recall(5, 3, 10)


def test_results_are_frozen_and_json_safe():
    rep = retrieval_report()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.counts = {}
    json.dumps(report.jsonable(rep.to_json()))  # numpy arrays, tuples and NaN made JSON types
    assert rep.to_json()["checkpoint"] == "" and "step" not in rep.to_markdown().split("\n")[2]
    assert report.fmt(float("nan")) == "–" and report.fmt(np.float32("nan")) == "–" and report.fmt(None) == "–"


def test_the_training_report_lists_chance_levels_and_evaluators_that_never_ran(tmp_path):
    from sarclip_jax.cli import train

    ran = types.SimpleNamespace(last=retrieval_report(n=100))
    ran.write_report = lambda out, run_info: ran.last.write(out, run_info)
    never = types.SimpleNamespace(last=None, write_report=lambda out, run_info: pytest.fail("no result to write"))
    cfg = ml_collections.ConfigDict(dict(model=dict(name="tiny"), data=dict(dataset="sarclip1m/synthetic")))
    result = types.SimpleNamespace(final_step=3, stopped_by="preempted", last_metrics={}, eval_metrics={})
    train.write_report(cfg, epath.Path(tmp_path), result, {"retrieval": ran, "zero_shot": never}, "c.py")
    md = (tmp_path / "report.md").read_text()
    assert f"- retrieval: full report in `{tmp_path / 'eval' / 'retrieval'}`; at random: t2i R@10 10.0%, " \
           "i2t R@10 10.0%" in md
    assert "- zero_shot: not evaluated in this run" in md
    assert json.loads((tmp_path / "eval" / "retrieval" / "results.json").read_text())["run_info"]["final_step"] == 3
