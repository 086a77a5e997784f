"""Linear probe on frozen embeddings: few-shot sampling, a scikit-learn logistic regression, and
mean/spread over seeds. No side effects; the solver is scikit-learn's (lbfgs, multinomial).

Few-shot rule: for k shots and seed s, each class keeps min(k, its training images) images
drawn without replacement by numpy's default_rng([s, k]); a class with no training image is
absent from the classifier and can never be predicted (it still counts in the test metrics).
"Full" (k = 0) uses every training image once; lbfgs is deterministic, so full runs once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from sarclip_jax.evaluation.classification_metrics import ClassificationResult, classification_metrics

FULL = 0  # shots value meaning "the whole training set"


def few_shot_indices(labels: np.ndarray, shots: int, seed: int, num_classes: int) -> np.ndarray:
    """Sorted indices into `labels`: up to `shots` per class (all of them for FULL)."""
    labels = np.asarray(labels, np.int64)
    if shots == FULL:
        return np.arange(len(labels))
    if shots < 0:
        raise ValueError(f"shots must be positive or {FULL} (full), got {shots}")
    rng = np.random.default_rng([seed, shots])
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if members.size:
            chosen.append(rng.choice(members, size=min(shots, members.size), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def fit_predict_proba(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, num_classes: int, *,
                      C: float = 1.0, max_iter: int = 1000, standardize: bool = True) -> np.ndarray:
    """(test, num_classes) class probabilities; classes absent from training get 0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    present = np.unique(train_y)
    out = np.zeros((len(test_x), num_classes), np.float64)
    if present.size == 1:  # one class seen: it is the only possible answer
        out[:, present[0]] = 1.0
        return out
    steps = [StandardScaler()] if standardize else []
    clf = make_pipeline(*steps, LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(np.asarray(train_x, np.float64), np.asarray(train_y))
    out[:, clf.classes_] = clf.predict_proba(np.asarray(test_x, np.float64))
    return out


@dataclasses.dataclass(frozen=True)
class ProbeSetting:
    shots: int  # FULL for the whole training set
    runs: list[ClassificationResult]
    train_sizes: list[int]

    def summary(self) -> dict[str, float]:
        top1 = np.array([r.top_k[1] for r in self.runs])
        mpc = np.array([r.mean_per_class for r in self.runs])
        # Population std over seeds (ddof=0): with one run it is 0, not undefined.
        return {"top1_mean": float(top1.mean()), "top1_std": float(top1.std()),
                "mean_per_class_mean": float(mpc.mean()), "mean_per_class_std": float(mpc.std()),
                "runs": len(self.runs), "train_images_mean": float(np.mean(self.train_sizes))}


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 num_classes: int, shots: Sequence[int], seeds: Sequence[int], *, C: float = 1.0,
                 max_iter: int = 1000, standardize: bool = True) -> list[ProbeSetting]:
    """One ProbeSetting per shots value, with one run per seed (one run in all for FULL)."""
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError(f"linear probe needs training and test embeddings, got {len(train_x)} and {len(test_x)}")
    if not seeds:
        raise ValueError("linear probe needs at least one seed")
    settings = []
    for k in shots:
        runs, sizes = [], []
        for seed in (seeds[:1] if k == FULL else seeds):
            idx = few_shot_indices(train_y, k, seed, num_classes)
            proba = fit_predict_proba(train_x[idx], train_y[idx], test_x, num_classes, C=C, max_iter=max_iter,
                                      standardize=standardize)
            runs.append(classification_metrics(proba, test_y, ks=(1,)))
            sizes.append(len(idx))
        settings.append(ProbeSetting(k, runs, sizes))
    return settings


def setting_name(shots: int) -> str:
    """A few-shot setting's name in metrics and reports: "full" or "{shots}shot"."""
    return "full" if shots == FULL else f"{shots}shot"
