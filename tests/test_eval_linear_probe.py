"""Linear probe and few-shot: sampling by hand, the probe on clusters, and the evaluator on a
train/test class-folder tree."""

import json

import numpy as np
import pytest
from etils import epath

from sarclip_jax.data import sar_readers
from sarclip_jax.evaluation import build_evaluator
from sarclip_jax.evaluation.linear_probe_metrics import FULL, few_shot_indices, fit_predict_proba, linear_probe
from sarclip_jax.models import create_model, get_model_config


def test_few_shot_draws_up_to_k_per_class_fixed_by_seed():
    labels = np.array([0, 0, 0, 1, 1, 2, 0])  # class 0: 4 images, class 1: 2, class 2: 1, class 3: none
    idx = few_shot_indices(labels, 2, seed=0, num_classes=4)
    assert np.bincount(labels[idx], minlength=4).tolist() == [2, 2, 1, 0]
    np.testing.assert_array_equal(idx, few_shot_indices(labels, 2, seed=0, num_classes=4))
    draws = {tuple(few_shot_indices(labels, 2, seed=s, num_classes=4)) for s in range(6)}
    assert len(draws) > 1  # the seed changes which class-0 images are drawn
    np.testing.assert_array_equal(few_shot_indices(labels, FULL, seed=3, num_classes=4), np.arange(7))
    with pytest.raises(ValueError, match="shots must be positive"):
        few_shot_indices(labels, -1, 0, 4)


def _clusters(n_per_class, seed, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * 3.0
    x = np.concatenate([c + spread * rng.standard_normal((n_per_class, 8)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(3), n_per_class)


def test_probe_separates_clusters_and_never_predicts_an_unseen_class():
    train_x, train_y = _clusters(10, seed=0)
    test_x, test_y = _clusters(20, seed=1)
    proba = fit_predict_proba(train_x, train_y, test_x, num_classes=4)
    assert proba.shape == (60, 4) and np.all(proba[:, 3] == 0.0)  # class 3 has no training image
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.mean(proba.argmax(axis=1) == test_y) == 1.0
    only_one = fit_predict_proba(train_x[:10], train_y[:10], test_x, num_classes=3)
    assert np.all(only_one.argmax(axis=1) == 0)


def test_settings_report_mean_and_spread_over_seeds():
    train_x, train_y = _clusters(10, seed=0, spread=2.5)  # overlapping: few-shot results vary by draw
    test_x, test_y = _clusters(30, seed=1, spread=2.5)
    settings = linear_probe(train_x, train_y, test_x, test_y, 3, shots=(1, 4, FULL), seeds=(0, 1, 2, 3))
    assert [s.shots for s in settings] == [1, 4, FULL]
    one_shot, _, full = settings
    assert len(one_shot.runs) == 4 and len(full.runs) == 1 and full.train_sizes == [30]
    assert one_shot.train_sizes == [3, 3, 3, 3]
    top1 = np.array([r.top_k[1] for r in one_shot.runs])
    s = one_shot.summary()
    assert s["top1_mean"] == pytest.approx(top1.mean()) and s["top1_std"] == pytest.approx(top1.std())
    assert s["top1_std"] > 0
    assert full.summary()["top1_std"] == 0.0
    assert full.summary()["top1_mean"] > 100 / 3  # better than chance on overlapping clusters


@pytest.fixture(scope="module")
def folder_tree(tmp_path_factory):
    """train/ and test/ folders of three visibly different 8-bit patterns, plus one broken file."""
    root = epath.Path(tmp_path_factory.mktemp("probe"))
    rng = np.random.default_rng(0)
    _, xx = np.mgrid[0:32, 0:32]
    patterns = {"bright": np.full((32, 32), 200.0), "dark": np.full((32, 32), 30.0),
                "stripes": np.where((xx // 4) % 2 == 0, 220.0, 20.0)}
    for split, n in (("train", 6), ("test", 4)):
        for name, base in patterns.items():
            for i in range(n):
                pixels = np.clip(base + 25 * rng.standard_normal((32, 32)), 0, 255).astype(np.uint8)
                path = root / split / name / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(sar_readers.encode_png(pixels))
    (root / "test" / "dark" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


def test_linear_probe_evaluator_on_a_train_test_folder(folder_tree, tmp_path):
    model = create_model(get_model_config("tiny"), seed=0)
    ev = build_evaluator("linear_probe", dict(folder=str(folder_tree), shots=(1, 2, 0), seeds=(0, 1), batch_size=8))
    assert ev.class_names == ["bright", "dark", "stripes"]
    metrics = dict(ev.run(model))
    assert set(metrics) == {f"linear_probe/{k}_{m}" for k in ("1shot", "2shot", "full")
                            for m in ("top1", "top1_std", "mean_per_class")}
    assert ev.last.counts["images_failed"] == 1 and ev.last.counts["test_images"] == 12
    assert ev.last.counts["train_images"] == 18
    assert metrics["linear_probe/full_top1"] == 100.0  # the three patterns are far apart even in random features
    files = ev.write_report(tmp_path, {"checkpoint": "random-tiny"})
    results = json.loads(files["results"].read_text())
    assert results["metrics"]["1shot"]["runs"] == 2 and results["metrics"]["full"]["runs"] == 1
    assert len(results["runs"]["2shot"]) == 2 and results["runs"]["2shot"][0]["train_images"] == 6
    assert results["failed_to_load"][0]["item"] == "test/dark/broken.png"
    assert "| full | 100.00 ± 0.00 |" in files["markdown"].read_text()
    assert files["few_shot"].exists()


def test_one_round_embeds_each_split_once_and_scores_as_alone(folder_tree, monkeypatch):
    """Within `embed.shared_images()` a zero-shot job on the probe's test split reuses the probe's
    pass over it; the training split, other settings and another model are embedded anew."""
    from sarclip_jax.evaluation import embed

    model = create_model(get_model_config("tiny"), seed=0)
    entry = dict(folder=str(folder_tree), batch_size=8)
    probe = build_evaluator("linear_probe", dict(entry, shots=(0,), seeds=(0,)))
    zero_shot = build_evaluator("zero_shot", dict(entry, templates="simple"))
    other_batch = build_evaluator("zero_shot", dict(entry, templates="simple", batch_size=4))
    passes = []
    real = embed.embed_images
    monkeypatch.setattr(embed, "embed_images", lambda model, items, **kw: passes.append(len(items)) or real(
        model, items, **kw))
    alone = dict(probe.run(model)), dict(zero_shot.run(model))
    assert passes == [18, 13, 13]  # train, test (12 and a broken file), test again
    with embed.shared_images():
        shared = dict(probe.run(model)), dict(zero_shot.run(model))
        assert zero_shot.last.timings["model_s"] == 0.0  # it embedded nothing
        dict(other_batch.run(model))
        dict(zero_shot.run(create_model(get_model_config("tiny"), seed=1)))
    assert shared == alone
    assert passes[3:] == [18, 13, 13, 13]  # the round: train, test; another batch size; another model
