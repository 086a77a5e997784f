"""How often captions repeat across images, and what that costs a contrastive batch.

For a set of records, each drawing one of its captions uniformly (as training does by default):
- `duplicate_rate`: the share of caption occurrences whose normalised text (text.caption_ids)
  also describes another image;
- `same_caption_probability`: for two different records drawn at random, the probability that
  their drawn captions are the same text: q = (sum_t S_t^2 - sum_r sum_t c_rt^2) / (N (N - 1)),
  with c_rt the probability that record r draws text t and S_t = sum_r c_rt;
- `false_negatives_per_batch`: B (B - 1) q, the expected number of off-diagonal entries of a
  batch's B x B image-caption matrix that pair an image with a caption of its own text (which
  the CLIP loss counts as negatives), at B = 64 and 1,024.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from sarclip_jax.text.caption_ids import caption_id

BATCHES = (64, 1024)


class CaptionStats:
    def __init__(self):
        self.records = 0
        self.captions = 0
        self.occurrences: collections.Counter = collections.Counter()  # text id -> captions with it
        self.images: collections.Counter = collections.Counter()  # text id -> records with it
        self.draw: collections.defaultdict = collections.defaultdict(float)  # text id -> sum_r c_rt
        self.self_square = 0.0  # sum_r sum_t c_rt^2

    def add(self, captions: Sequence[str]) -> None:
        if not captions:
            return
        ids = [caption_id(c) for c in captions]
        self.records += 1
        self.captions += len(ids)
        self.occurrences.update(ids)
        per_text = collections.Counter(ids)
        self.images.update(per_text.keys())
        for text, n in per_text.items():
            p = n / len(ids)
            self.draw[text] += p
            self.self_square += p * p

    def summary(self) -> dict:
        n = self.records
        repeated = sum(c for t, c in self.occurrences.items() if self.images[t] > 1)
        q = ((sum(s * s for s in self.draw.values()) - self.self_square) / (n * (n - 1))) if n > 1 else 0.0
        return {"records": n, "captions": self.captions, "distinct_captions": len(self.occurrences),
                "duplicate_rate": round(repeated / self.captions, 6) if self.captions else 0.0,
                "same_caption_probability": q,
                "false_negatives_per_batch": {str(b): round(b * (b - 1) * q, 3) for b in BATCHES}}
