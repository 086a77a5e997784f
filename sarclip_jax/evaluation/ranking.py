"""Ranks of ground-truth candidates among scored candidates, with one fixed tie rule.

Tie rule (everywhere in `eval`): candidates are ordered by descending score, and candidates
with exactly equal scores by ascending index, i.e. the order of a stable sort of the negated
scores. A candidate's rank is its 0-based position in that order, so

    rank(t) = #{j : s_j > s_t} + #{j < t : s_j == s_t}

and "hit at K" means rank < K. The official SARCLIP scripts take `topk`, whose order among
equal scores is unspecified; this rule makes a result depend on nothing but the scores.
Non-finite scores are refused: a NaN compares false with everything and would silently rank
anywhere.
"""

from __future__ import annotations

import numpy as np


def _check_scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (queries, candidates), got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        bad = np.argwhere(~np.isfinite(scores))[0]
        raise ValueError(f"non-finite score at query {bad[0]}, candidate {bad[1]}: embeddings hold NaN or inf")
    return scores


def rank_of_targets(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(queries,) 0-based rank of candidate `targets[q]` in row q of `scores` (queries, candidates)."""
    scores = _check_scores(scores)
    targets = np.asarray(targets, np.int64)
    if targets.shape != (scores.shape[0],):
        raise ValueError(f"need one target per query: {targets.shape} targets for {scores.shape[0]} queries")
    if targets.size and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        raise ValueError(f"target index out of range [0, {scores.shape[1]})")
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    above = (scores > target_scores).sum(axis=1)
    tied_before = ((scores == target_scores) & (np.arange(scores.shape[1])[None, :] < targets[:, None])).sum(axis=1)
    return (above + tied_before).astype(np.int64)


def best_positive_rank(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """(queries,) rank of the best-ranked positive of each query; `positive` is a boolean
    (queries, candidates) mask. Under the tie rule the best-ranked positive is the one with the
    highest score, the lowest index among equals."""
    scores = _check_scores(scores)
    positive = np.asarray(positive, bool)
    if positive.shape != scores.shape:
        raise ValueError(f"positive mask shape {positive.shape} != scores shape {scores.shape}")
    lacking = np.flatnonzero(~positive.any(axis=1))
    if lacking.size:
        raise ValueError(f"queries without any positive candidate: {lacking[:10].tolist()}")
    masked = np.where(positive, scores, -np.inf)
    best = masked.max(axis=1, keepdims=True)
    first_best = np.argmax(positive & (masked == best), axis=1)  # argmax returns the first True
    return rank_of_targets(scores, first_best)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """(queries, min(k, candidates)) candidate indices in rank order, under the tie rule."""
    scores = _check_scores(scores)
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]
