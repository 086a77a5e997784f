"""How often a record's class label is ambiguous: another class holds as many objects as it (or more).

A scene labelled "ship" that holds one ship and one oil slick could carry either name, so a
classifier that reads every object right still matches the stored label only 1/k of the time
among k tied classes. `ceiling` is that expected top-1 of such a perfect reader: the highest
zero-shot accuracy the split's labels allow.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence


def label_ambiguity(records: Iterable[tuple[str, Sequence[str]]]) -> dict:
    """Statistics over (label, object classes) pairs; records without a label or objects are skipped."""
    counted = ambiguous = 0
    expected_correct = 0.0
    by_class: collections.Counter = collections.Counter()  # label -> its ambiguous records
    for label, objects in records:
        if not label or not objects:
            continue
        counts = collections.Counter(objects)
        top = max(counts.values())
        leaders = [c for c, n in counts.items() if n == top]
        counted += 1
        if label in leaders:
            expected_correct += 1.0 / len(leaders)
        if len(leaders) > 1 or label not in leaders:
            ambiguous += 1
            by_class[label] += 1
    return {"records": counted, "ambiguous": ambiguous, "ambiguous_rate": round(ambiguous / counted, 6) if counted else 0.0,
            "ceiling": round(expected_correct / counted, 6) if counted else 0.0,
            "ambiguous_by_class": dict(by_class.most_common())}
