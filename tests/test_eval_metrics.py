"""Metric math on hand-made inputs whose answers are worked out in the comments, plus a plain
numpy retrieval as a second opinion. (The OpenCLIP zero-shot comparison is in
test_eval_openclip.py.)"""

import numpy as np
import pytest

from sarclip_jax.evaluation import retrieval_metrics
from sarclip_jax.evaluation.classification_metrics import classification_metrics, confusion_matrix, top_k_accuracy
from sarclip_jax.evaluation.ranking import best_positive_rank, rank_of_targets, top_k_indices
from sarclip_jax.evaluation.retrieval_metrics import evaluate_retrieval, recall_curve, subset_indices

E1, E2, E3 = np.eye(3, dtype=np.float32)


def test_rank_counts_higher_scores_and_equal_scores_at_lower_indices():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1]])
    # target 3 (0.5): one higher (index 1), two equal at lower indices (0, 2) -> rank 3
    assert rank_of_targets(scores, np.array([3])).tolist() == [3]
    # target 0 (0.5): one higher, no equal before -> rank 1
    assert rank_of_targets(scores, np.array([0])).tolist() == [1]
    # the stable order agrees: [1, 0, 2, 3, 4]
    assert top_k_indices(scores, 5).tolist() == [[1, 0, 2, 3, 4]]
    # best positive among {2, 3, 4}: 2 and 3 tie at 0.5, the lower index (2) counts -> rank 2
    assert best_positive_rank(scores, np.array([[0, 0, 1, 1, 1]], bool)).tolist() == [2]


def test_nan_scores_and_queries_without_positive_are_refused():
    with pytest.raises(ValueError, match="non-finite score at query 0, candidate 1"):
        rank_of_targets(np.array([[0.1, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match=r"without any positive candidate: \[1\]"):
        best_positive_rank(np.ones((2, 2)), np.array([[1, 0], [0, 0]], bool))


def test_one_to_one_recall_with_ties_by_hand():
    images = np.stack([E1, E2, E1, -E1])[:, :2]
    texts = np.stack([E1, E2, E2, -E2])[:, :2]
    # S = images @ texts.T:
    #   i0 [ 1, 0, 0, 0] gt t0 -> 0
    #   i1 [ 0, 1, 1,-1] gt t1 ties t2, lower index first -> 0
    #   i2 [ 1, 0, 0, 0] gt t2 (0): t0 above, t1 tied before -> 2
    #   i3 [-1, 0, 0, 0] gt t3 (0): t1, t2 tied before -> 2
    # S.T: t0 [1,0,1,-1] -> 0; t1 [0,1,0,0] -> 0; t2 [0,1,0,0] gt i2: i1 above, i0 tied -> 2;
    #      t3 [0,-1,0,0] gt i3: i0, i2 tied before -> 2
    result = evaluate_retrieval(images, texts, "one_to_one", ks=(1, 2, 3))
    assert result.i2t_ranks.tolist() == [0, 0, 2, 2]
    assert result.t2i_ranks.tolist() == [0, 0, 2, 2]
    m = result.metrics
    assert (m["I2T_R@1"], m["I2T_R@2"], m["I2T_R@3"]) == (50.0, 50.0, 100.0)
    assert m["I2T_MeanRecall"] == pytest.approx(200 / 3)
    assert m["R@3"] == 100.0 and m["MeanRecall"] == pytest.approx(200 / 3)
    assert result.protocol == "one_to_one"


def test_several_captions_per_image_by_hand():
    images = np.stack([E1, E2, E3])
    texts = np.stack([E2, E1, E3, E1, -E3])
    owner = np.array([0, 0, 1, 2, 2])
    # I2T (any of the image's captions):
    #   i0 [0,1,0,1,0]  captions {0,1}: c1 scores 1, c3 ties but has a higher index -> 0
    #   i1 [1,0,0,0,0]  caption 2 (0): c0 above, c1 tied before -> 2
    #   i2 [0,0,1,0,-1] captions {3,4}: best c3 (0): c2 above, c0 c1 tied before -> 3
    # T2I (each caption's image):
    #   c0 [0,1,0] gt i0: i1 above -> 1; c1 [1,0,0] -> 0; c2 [0,0,1] gt i1: i2 above, i0 tied -> 2
    #   c3 [1,0,0] gt i2: i0 above, i1 tied -> 2; c4 [0,0,-1] gt i2: i0, i1 above -> 2
    result = evaluate_retrieval(images, texts, "multi_caption", text_image=owner, ks=(1, 3, 5))
    assert result.i2t_ranks.tolist() == [0, 2, 3]
    assert result.t2i_ranks.tolist() == [1, 0, 2, 2, 2]
    m = result.metrics
    assert m["I2T_R@1"] == pytest.approx(100 / 3) and m["I2T_R@3"] == pytest.approx(200 / 3)
    assert m["I2T_R@5"] == 100.0
    assert (m["T2I_R@1"], m["T2I_R@3"], m["T2I_R@5"]) == (20.0, 100.0, 100.0)
    assert m["R@1"] == pytest.approx((100 / 3 + 20) / 2)
    assert m["MeanRecall"] == pytest.approx((200 / 3 + 220 / 3) / 2)
    # the curve at K=1..3 matches the table
    ks, i2t, t2i = result.recall_curve(3)
    assert ks.tolist() == [1, 2, 3]
    np.testing.assert_allclose(i2t, [100 / 3, 100 / 3, 200 / 3])
    np.testing.assert_allclose(t2i, [20, 40, 100])


def test_protocol_mismatches_are_refused():
    with pytest.raises(ValueError, match="one caption per image"):
        evaluate_retrieval(np.eye(2), np.eye(3)[:, :2], "one_to_one")
    with pytest.raises(ValueError, match="needs text_image"):
        evaluate_retrieval(np.eye(2), np.eye(2), "multi_caption")
    with pytest.raises(ValueError, match=r"images without a caption: \[1\]"):
        evaluate_retrieval(np.eye(2), np.eye(2), "multi_caption", text_image=np.array([0, 0]))
    with pytest.raises(ValueError, match="unknown retrieval protocol"):
        evaluate_retrieval(np.eye(2), np.eye(2), "rsicd")


def _numpy_reference_ranks(image, text, owner):
    """Full stable sort per query, then the position of the first true partner."""
    image = image / np.linalg.norm(image, axis=1, keepdims=True)
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    sim = image @ text.T
    i2t = []
    for i in range(len(image)):
        order = np.argsort(-sim[i], kind="stable")
        i2t.append(min(np.flatnonzero(owner[order] == i)))
    t2i = [int(np.flatnonzero(np.argsort(-sim[:, j], kind="stable") == owner[j])[0]) for j in range(len(text))]
    return np.array(i2t), np.array(t2i)


@pytest.mark.parametrize("protocol", ["one_to_one", "multi_caption"])
def test_matches_plain_numpy_retrieval_with_blocks_and_duplicates(protocol, monkeypatch):
    from sarclip_jax.evaluation import retrieval_metrics as rm

    monkeypatch.setattr(rm, "BLOCK", 7)  # several blocks, the last one partial
    rng = np.random.default_rng(0)
    n_img = 40
    image = rng.standard_normal((n_img, 8)).astype(np.float32)
    image[5] = image[3]  # duplicate images create exact ties
    if protocol == "one_to_one":
        owner = np.arange(n_img)
    else:
        owner = np.concatenate([np.arange(n_img), rng.integers(0, n_img, 60)])
    text = image[owner] + 0.9 * rng.standard_normal((len(owner), 8)).astype(np.float32)
    text[7] = text[2]
    result = evaluate_retrieval(image, text, protocol, text_image=owner, ks=(1, 5, 10))
    ref_i2t, ref_t2i = _numpy_reference_ranks(image, text, owner)
    np.testing.assert_array_equal(result.i2t_ranks, ref_i2t)
    np.testing.assert_array_equal(result.t2i_ranks, ref_t2i)
    for k in (1, 5, 10):
        assert result.metrics[f"I2T_R@{k}"] == pytest.approx(100 * np.mean(ref_i2t < k))
        assert result.metrics[f"T2I_R@{k}"] == pytest.approx(100 * np.mean(ref_t2i < k))
    assert 0 < result.metrics["R@1"] < 100  # neither trivial nor hopeless, so the check has teeth


def test_recall_curve_is_cumulative_share_of_ranks():
    np.testing.assert_allclose(recall_curve(np.array([0, 0, 2, 5]), np.array([1, 2, 3, 6, 7])), [50, 50, 75, 100, 100])


def test_subset_is_fixed_by_seed_and_all_pairs_when_small():
    a, b = subset_indices(20000, 5000, seed=0), subset_indices(20000, 5000, seed=0)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 5000 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, subset_indices(20000, 5000, seed=1))
    np.testing.assert_array_equal(subset_indices(300, 5000, seed=0), np.arange(300))


def test_zero_shot_metrics_by_hand_with_ties_a_class_never_predicted_and_one_without_images():
    logits = np.array([
        [3, 1, 2, 0],  # label 0: predicted 0, rank 0
        [2, 2, 0, 1],  # label 1: ties class 0, lower index wins -> predicted 0, rank 1
        [0, 5, 1, 1],  # label 1: predicted 1, rank 0
        [1, 0, 0, 4],  # label 2: predicted 3; 0 and 3 above, 1 tied before -> rank 3
        [0, 0, 0, 0],  # label 0: all tie -> predicted 0, rank 0
    ], np.float32)
    labels = np.array([0, 1, 1, 2, 0])
    r = classification_metrics(logits, labels)
    assert r.top_k == {1: 60.0, 3: 80.0}  # no top-5 with 4 classes
    assert r.predictions.tolist() == [0, 0, 1, 3, 0]
    assert r.confusion.tolist() == [[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert r.confusion[:, 2].sum() == 0  # class 2 is never predicted
    np.testing.assert_array_equal(r.per_class[:3], [100.0, 50.0, 0.0])
    assert np.isnan(r.per_class[3])  # class 3 has no image: no accuracy, left out of the mean
    assert r.mean_per_class == 50.0
    assert r.class_counts.tolist() == [2, 2, 1, 0] and r.num_images == 5


def test_top_k_present_only_up_to_the_number_of_classes():
    logits = np.array([[0.1, 0.9, 0.0, 0.2, 0.3, 0.4]])
    assert top_k_accuracy(logits, np.array([5]), ks=(1, 3, 5)) == {1: 0.0, 3: 100.0, 5: 100.0}
    assert top_k_accuracy(logits[:, :2], np.array([0]), ks=(1, 3, 5)) == {1: 0.0}
    with pytest.raises(ValueError, match="label out of range"):
        top_k_accuracy(logits, np.array([6]))


def test_confusion_matrix_counts_pairs():
    assert confusion_matrix(np.array([0, 0, 1]), np.array([1, 1, 1]), 2).tolist() == [[0, 2], [0, 1]]


def _plain_rank(scores, positives):
    """Rank (0-based) of the best positive under the tie rule, by sorting."""
    order = np.argsort(-scores, kind="stable")
    return int(min(np.flatnonzero(np.isin(order, positives))))


def test_any_match_counts_every_image_of_the_same_text():
    rng = np.random.default_rng(3)
    images, texts = rng.normal(size=(6, 8)), rng.normal(size=(11, 8))
    owner = np.array([0, 0, 1, 2, 2, 3, 4, 4, 5, 5, 1])
    group = np.array([7, 8, 7, 9, 7, 10, 11, 8, 12, 13, 14])  # text 7 describes images 0, 1 and 2
    i2t, t2i = retrieval_metrics.retrieval_ranks(images, texts, owner, text_group=group)
    im, tx = retrieval_metrics.l2_normalize(images), retrieval_metrics.l2_normalize(texts)
    for i in range(6):
        mine = set(group[owner == i])
        assert i2t[i] == _plain_rank(im[i] @ tx.T, np.flatnonzero(np.isin(group, list(mine))))
    for j in range(11):
        assert t2i[j] == _plain_rank(tx[j] @ im.T, np.unique(owner[group == group[j]]))
    # all texts distinct: any_match is multi_caption
    distinct = retrieval_metrics.retrieval_ranks(images, texts, owner, text_group=np.arange(11))
    plain = retrieval_metrics.retrieval_ranks(images, texts, owner)
    np.testing.assert_array_equal(distinct[0], plain[0])
    np.testing.assert_array_equal(distinct[1], plain[1])
    result = retrieval_metrics.evaluate_retrieval(images, texts, "any_match", text_image=owner, text_group=group)
    assert result.protocol == "any_match" and "any_match" in retrieval_metrics.PROTOCOLS
    with pytest.raises(ValueError, match="needs text_group"):
        retrieval_metrics.evaluate_retrieval(images, texts, "any_match", text_image=owner)


def test_recall_per_caption_kind():
    rng = np.random.default_rng(4)
    images, texts = rng.normal(size=(5, 8)), rng.normal(size=(9, 8))
    owner = np.array([0, 0, 1, 1, 2, 3, 3, 4, 4])
    kinds = ["general", "counting", "general", "counting", "general", "general", "counting", "general", "counting"]
    result = retrieval_metrics.evaluate_retrieval(images, texts, "multi_caption", text_image=owner, ks=(1, 2),
                                                  text_kinds=kinds)
    im, tx = retrieval_metrics.l2_normalize(images), retrieval_metrics.l2_normalize(texts)
    sel = np.flatnonzero(np.array(kinds) == "counting")  # images 0, 1, 3, 4 have a counting caption
    t2i = [_plain_rank(tx[j] @ im.T, [owner[j]]) for j in sel]
    own = [0, 1, 3, 4]
    i2t = [_plain_rank(im[i] @ tx[sel].T, np.flatnonzero(owner[sel] == i)) for i in own]
    counting = result.per_kind["counting"]
    assert counting["captions"] == 4
    assert counting["T2I_R@1"] == 100 * np.mean(np.array(t2i) < 1)
    assert counting["I2T_R@2"] == 100 * np.mean(np.array(i2t) < 2)
    assert set(result.per_kind) == {"general", "counting"}
