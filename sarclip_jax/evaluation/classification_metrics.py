"""Classification metrics from logits and integer labels, pure numpy.

Top-k accuracy counts an image correct when its true class ranks within the first k classes;
classes are ranked by descending logit with ties to the lower class index (`sarclip_jax.evaluation.ranking`), so
the top-1 prediction is `argmax` (first maximum). Top-k is absent when there are fewer than k
classes (it would be 100% by construction). Per-class accuracy is the confusion matrix's
diagonal over its row sums; a class with no test image has no accuracy (NaN) and is left out
of the mean per-class accuracy, as the SARCLIP zero-shot protocol does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from sarclip_jax.evaluation.ranking import rank_of_targets

DEFAULT_KS = (1, 3, 5)


@dataclasses.dataclass(frozen=True)
class ClassificationResult:
    top_k: dict[int, float]  # k -> percent; only k <= number of classes
    per_class: np.ndarray  # (classes,) percent; NaN for a class without images
    mean_per_class: float  # percent, over classes with images
    confusion: np.ndarray  # (classes, classes) int64: rows true class, columns top-1 prediction
    predictions: np.ndarray  # (images,) top-1 class
    class_counts: np.ndarray  # (classes,) images per true class

    @property
    def num_images(self) -> int:
        return int(self.class_counts.sum())


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, labels = np.asarray(logits), np.asarray(labels, np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"need logits (images, classes) and one label per image; got {logits.shape}, {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        bad = labels[(labels < 0) | (labels >= logits.shape[1])]
        raise ValueError(f"label out of range [0, {logits.shape[1]}): {bad[:5]}")
    return logits, labels


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    logits, labels = _check(logits, labels)
    if labels.size == 0:
        raise ValueError("accuracy of zero images is undefined")
    ranks = rank_of_targets(logits, labels)
    return {k: float(100.0 * np.mean(ranks < k)) for k in ks if k <= logits.shape[1]}


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    return np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    counts = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * np.diag(confusion) / counts, np.nan)


def classification_metrics(logits: np.ndarray, labels: np.ndarray, ks: Sequence[int] = DEFAULT_KS
                           ) -> ClassificationResult:
    logits, labels = _check(logits, labels)
    num_classes = logits.shape[1]
    predictions = np.argmax(logits, axis=1)  # the first maximum: the tie rule's top-1
    confusion = confusion_matrix(labels, predictions, num_classes)
    per_class = per_class_accuracy(confusion)
    return ClassificationResult(
        top_k=top_k_accuracy(logits, labels, ks), per_class=per_class,
        mean_per_class=float(np.nanmean(per_class)), confusion=confusion, predictions=predictions,
        class_counts=confusion.sum(axis=1))


def chance_top1(class_counts: np.ndarray) -> tuple[float, float]:
    """Top-1 accuracy in percent of a uniform random guess over the classes, and of always
    answering the class with the most test images."""
    counts = np.asarray(class_counts, np.int64)
    if counts.size == 0:
        raise ValueError("chance accuracy of zero classes is undefined")
    return 100.0 / counts.size, 100.0 * int(counts.max()) / max(int(counts.sum()), 1)


def top1_by_group(predictions: np.ndarray, labels: np.ndarray, groups: Sequence[str],
                  order: Sequence[str] = ()) -> list[tuple[str, int, float]]:
    """(group, images, top-1 %) for each group present, in `order` first, then by name; "" is no group."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if not len(predictions) == len(labels) == len(groups):
        raise ValueError(f"need one group per image: {len(predictions)} predictions, {len(labels)} labels, "
                         f"{len(groups)} groups")
    groups = np.asarray(list(groups), dtype=object)
    present = [g for g in order if (groups == g).any()] + sorted(set(groups.tolist()) - set(order) - {""})
    return [(g, int((groups == g).sum()), float(100.0 * np.mean(predictions[groups == g] == labels[groups == g])))
            for g in present]
