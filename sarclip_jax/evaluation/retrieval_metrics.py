"""Image-text retrieval recall, pure numpy, under three named protocols.

  "one_to_one"   SARCLIP's official protocol: pair i is image i and caption i, and only caption
                 i counts for image i (and image i for caption i). A repeated image is a
                 separate candidate.
  "multi_caption" The remote-sensing convention for several captions per image (RSICD, UCM,
                 RSITMD): an image->text hit at K when ANY of the image's captions is in its
                 top K; each caption's one ground truth is its image.
  "any_match"    As multi_caption, but captions with the same text (text.caption_ids) are one:
                 a caption's positives are all images that have a caption of its text, an
                 image's positives all captions whose text is one of its captions'. Template
                 captions repeat across images; this protocol does not count retrieving another
                 image that the same sentence describes as a miss.

Both: embeddings are L2-normalised, similarity = image @ text.T (no scale), ties broken as in
`sarclip_jax.evaluation.ranking`. Reported (percent, the official names): I2T_R@K, I2T_MeanRecall (mean over K),
T2I_R@K, T2I_MeanRecall, R@K (the two directions averaged) and MeanRecall (the mean of the two
direction means).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from sarclip_jax.evaluation.ranking import best_positive_rank, rank_of_targets

PROTOCOLS = {
    "one_to_one": "SARCLIP one-to-one pairs: row i's image pairs with row i's caption only",
    "multi_caption": "several captions per image: image->text hit when any of its captions is in the top K",
    "any_match": "several captions per image, and captions of the same text are one: a hit is any image "
                 "(caption) that the same text describes",
}
DEFAULT_KS = (1, 5, 10)
# Query rows scored at once: bounds the (block, candidates) similarity matrix in memory.
BLOCK = 1024


@dataclasses.dataclass(frozen=True)
class RetrievalResult:
    protocol: str
    metrics: dict[str, float]  # official names, percent
    i2t_ranks: np.ndarray  # (images,) rank of the best-ranked true caption
    t2i_ranks: np.ndarray  # (captions,) rank of the true image
    num_images: int
    num_captions: int
    per_kind: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)  # kind -> R@K, captions

    def recall_curve(self, max_k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(K = 1..max_k, I2T recall@K, T2I recall@K) in percent, for plotting."""
        max_k = max_k or max(self.num_images, self.num_captions)
        ks = np.arange(1, max_k + 1)
        return ks, recall_curve(self.i2t_ranks, ks), recall_curve(self.t2i_ranks, ks)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Percent of queries whose ground truth ranks within the top k."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("recall of zero queries is undefined")
    return float(100.0 * np.mean(ranks < k))


def recall_curve(ranks: np.ndarray, ks: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.asarray(ranks, np.int64), minlength=int(np.max(ks)) + 1)
    return 100.0 * np.cumsum(counts)[np.asarray(ks) - 1] / len(ranks)


def retrieval_ranks(image_emb: np.ndarray, text_emb: np.ndarray, text_image: np.ndarray,
                    block: int = BLOCK, text_group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(i2t ranks per image, t2i ranks per caption); `text_image[j]` is caption j's image index.

    For image i the positives are the captions j with text_image[j] == i; every image needs one.
    With `text_group` (one id per caption, equal for captions of the same text), the "any_match"
    positives instead: captions whose group is one of image i's groups, and for caption j every
    image that has a caption of j's group.
    """
    image_emb, text_emb = l2_normalize(image_emb), l2_normalize(text_emb)
    text_image = np.asarray(text_image, np.int64)
    n_img, n_txt = len(image_emb), len(text_emb)
    if text_image.shape != (n_txt,):
        raise ValueError(f"text_image needs one image index per caption: {text_image.shape} for {n_txt} captions")
    if image_emb.shape[1:] != text_emb.shape[1:]:
        raise ValueError(f"embedding sizes differ: images {image_emb.shape}, texts {text_emb.shape}")
    if n_txt and (text_image.min() < 0 or text_image.max() >= n_img):
        raise ValueError(f"text_image index out of range [0, {n_img})")
    captionless = np.setdiff1d(np.arange(n_img), text_image)
    if captionless.size:
        raise ValueError(f"images without a caption: {captionless[:10].tolist()}")
    group = None if text_group is None else _group_index(text_group, n_txt)
    return _i2t_ranks(image_emb, text_emb, text_image, group, block), \
        _t2i_ranks(image_emb, text_emb, text_image, group, block)


def _group_index(text_group, n_txt: int) -> np.ndarray:
    text_group = np.asarray(text_group)
    if text_group.shape != (n_txt,):
        raise ValueError(f"text_group needs one group per caption: {text_group.shape} for {n_txt} captions")
    return np.unique(text_group, return_inverse=True)[1]


def _incidence(text_image, group, n_img):
    """Sparse (images, groups) boolean: image i has a caption of group g. Captions of one text are
    interchangeable, so the positive masks are built from it one query block at a time."""
    import scipy.sparse

    ones = np.ones(len(group), np.int8)
    has = scipy.sparse.csr_matrix((ones, (text_image, group)), shape=(n_img, int(group.max()) + 1))
    return (has > 0).astype(np.int8)


def _i2t_ranks(image_emb, text_emb, text_image, group, block=BLOCK) -> np.ndarray:
    n_img = len(image_emb)
    if group is None:
        masks = (text_image[None, :] == np.arange(s, min(s + block, n_img))[:, None] for s in range(0, n_img, block))
    else:
        import scipy.sparse

        has = _incidence(text_image, group, n_img)
        of_text = scipy.sparse.csr_matrix((np.ones(len(group), np.int8), (group, np.arange(len(group)))),
                                          shape=(has.shape[1], len(group)))
        masks = ((has[s:s + block] @ of_text).toarray() > 0 for s in range(0, n_img, block))
    return np.concatenate([best_positive_rank(image_emb[s:s + block] @ text_emb.T, mask)
                           for s, mask in zip(range(0, n_img, block), masks)] or [np.zeros(0, np.int64)])


def _t2i_ranks(image_emb, text_emb, text_image, group, block=BLOCK) -> np.ndarray:
    n_txt = len(text_emb)
    if group is None:
        return np.concatenate([rank_of_targets(text_emb[s:s + block] @ image_emb.T, text_image[s:s + block])
                               for s in range(0, n_txt, block)] or [np.zeros(0, np.int64)])
    has = _incidence(text_image, group, len(image_emb)).tocsc()
    return np.concatenate([best_positive_rank(text_emb[s:s + block] @ image_emb.T,
                                              has[:, group[s:s + block]].T.toarray() > 0)
                           for s in range(0, n_txt, block)] or [np.zeros(0, np.int64)])


def summarize(i2t_ranks: np.ndarray, t2i_ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """The official metric names and values (percent) from the two rank arrays."""
    out = {}
    for direction, ranks in (("I2T", i2t_ranks), ("T2I", t2i_ranks)):
        recalls = [recall_at_k(ranks, k) for k in ks]
        out.update({f"{direction}_R@{k}": r for k, r in zip(ks, recalls, strict=True)})
        out[f"{direction}_MeanRecall"] = float(np.mean(recalls))
    for k in ks:
        out[f"R@{k}"] = (out[f"I2T_R@{k}"] + out[f"T2I_R@{k}"]) / 2
    out["MeanRecall"] = (out["I2T_MeanRecall"] + out["T2I_MeanRecall"]) / 2
    return out


def evaluate_retrieval(image_emb: np.ndarray, text_emb: np.ndarray, protocol: str,
                       text_image: np.ndarray | None = None, ks: Sequence[int] = DEFAULT_KS,
                       text_group: np.ndarray | None = None, text_kinds: Sequence[str] | None = None
                       ) -> RetrievalResult:
    """Recall under `protocol`; "one_to_one" needs as many captions as images (text_image is
    then the identity), "multi_caption" needs `text_image`, "any_match" also `text_group`.
    With `text_kinds` (one per caption), the result also holds recall per caption kind."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown retrieval protocol {protocol!r}; known: {sorted(PROTOCOLS)}")
    if protocol == "one_to_one":
        if len(image_emb) != len(text_emb):
            raise ValueError(f"one_to_one needs one caption per image: {len(image_emb)} images, "
                             f"{len(text_emb)} captions")
        if text_image is not None and not np.array_equal(text_image, np.arange(len(text_emb))):
            raise ValueError("one_to_one pairs row i with row i; use protocol 'multi_caption' for other pairings")
        text_image = np.arange(len(text_emb))
    elif text_image is None:
        raise ValueError(f"protocol {protocol!r} needs text_image (each caption's image index)")
    if protocol == "any_match" and text_group is None:
        raise ValueError("protocol 'any_match' needs text_group (one id per caption, equal for equal texts)")
    group = text_group if protocol == "any_match" else None
    i2t, t2i = retrieval_ranks(image_emb, text_emb, text_image, text_group=group)
    kinds = per_kind(image_emb, text_emb, np.asarray(text_image), text_kinds, group, ks) if text_kinds else {}
    return RetrievalResult(protocol, summarize(i2t, t2i, ks), i2t, t2i, len(image_emb), len(text_emb), kinds)


def per_kind(image_emb, text_emb, text_image, text_kinds, text_group, ks) -> dict[str, dict[str, float]]:
    """Recall per caption kind: text->image over the captions of that kind (against every image),
    image->text over the images having a caption of that kind, against the captions of that kind."""
    kinds = np.asarray(list(text_kinds))
    if kinds.shape != (len(text_emb),):
        raise ValueError(f"text_kinds needs one kind per caption: {kinds.shape} for {len(text_emb)} captions")
    image_emb, text_emb = l2_normalize(image_emb), l2_normalize(text_emb)
    out = {}
    for kind in sorted(set(kinds.tolist())):
        sel = np.flatnonzero(kinds == kind)
        owners = text_image[sel]
        images = np.unique(owners)
        local = np.searchsorted(images, owners)
        group = None if text_group is None else _group_index(np.asarray(text_group)[sel], sel.size)
        i2t = _i2t_ranks(image_emb[images], text_emb[sel], local, group)
        t2i = _t2i_ranks(image_emb, text_emb[sel], owners, group)
        out[kind] = {**{f"I2T_R@{k}": recall_at_k(i2t, k) for k in ks},
                     **{f"T2I_R@{k}": recall_at_k(t2i, k) for k in ks}, "captions": int(sel.size)}
    return out


def chance_recall(num_images: int, num_captions: int, k: int) -> tuple[float, float]:
    """(I2T, T2I) recall@k in percent of a model whose rankings are uniformly random: text->image
    finds the one right image among `num_images`; image->text finds any of the image's captions
    (num_captions / num_images of them, the mean when images have different numbers) among
    `num_captions`, drawn without replacement."""
    if num_images < 1 or num_captions < num_images:
        raise ValueError(f"chance recall needs images and at least one caption each, got {num_images} images, "
                         f"{num_captions} captions")
    per_image = num_captions / num_images
    miss = 1.0  # P(none of the image's captions among the first k)
    for j in range(min(k, num_captions)):
        miss *= max(num_captions - per_image - j, 0.0) / (num_captions - j)
    return 100.0 * (1.0 - miss), 100.0 * min(k, num_images) / num_images


def subset_indices(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a `size`-pair subset drawn without replacement with a fixed seed (all
    of them when n <= size). SARCLIP reports one-to-one retrieval on 5,000 test pairs."""
    if size <= 0 or n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
