"""Where a record's class label stands among the classes of its annotated objects.

A scene labelled "ship" that holds one ship and one oil slick could carry either name, so a
classifier that reads every object right still matches the stored label only 1/k of the time
among k classes tied for the most objects, and never when another class outnumbers the label.
`label_ambiguity` sums that over a split: how many labels are ambiguous, and the expected
top-1 of such a perfect reader (`ceiling`), the highest zero-shot accuracy the labels allow.
`standing` names the case, so evaluators can report accuracy per case.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

ONE_CLASS, LEADS, TIED, OUTNUMBERED = "one class", "label leads", "label tied", "label outnumbered"
STANDINGS = (ONE_CLASS, LEADS, TIED, OUTNUMBERED)


def standing(label: str, objects: Sequence[str]) -> str:
    """One of STANDINGS, or "" when the record has no label or no objects."""
    if not label or not objects:
        return ""
    counts = collections.Counter(objects)
    if len(counts) == 1 and label in counts:
        return ONE_CLASS
    top = max(counts.values())
    if counts[label] < top:
        return OUTNUMBERED
    return TIED if sum(n == top for n in counts.values()) > 1 else LEADS


def perfect_reader_top1(label: str, objects: Sequence[str]) -> float:
    """The chance that a reader naming a class with the most objects (ties at random) names `label`."""
    counts = collections.Counter(objects)
    top = max(counts.values())
    return 1.0 / sum(n == top for n in counts.values()) if counts[label] == top else 0.0


class LabelAmbiguity:
    """Accumulates records one at a time (a build's report); `summary()` is `label_ambiguity`'s dict."""

    def __init__(self):
        self.records = self.ambiguous = 0
        self.expected_correct = 0.0
        self.by_class: collections.Counter = collections.Counter()  # label -> its ambiguous records

    def add(self, label: str, objects: Sequence[str]) -> None:
        case = standing(label, objects)
        if not case:
            return
        self.records += 1
        self.expected_correct += perfect_reader_top1(label, objects)
        if case in (TIED, OUTNUMBERED):
            self.ambiguous += 1
            self.by_class[label] += 1

    def summary(self) -> dict:
        n = self.records
        return {"records": n, "ambiguous": self.ambiguous,
                "ambiguous_rate": round(self.ambiguous / n, 6) if n else 0.0,
                "ceiling": round(self.expected_correct / n, 6) if n else 0.0,
                "ambiguous_by_class": dict(self.by_class.most_common())}


def label_ambiguity(records: Iterable[tuple[str, Sequence[str]]]) -> dict:
    """Statistics over (label, object classes) pairs; records without a label or objects are skipped."""
    acc = LabelAmbiguity()
    for label, objects in records:
        acc.add(label, objects)
    return acc.summary()
