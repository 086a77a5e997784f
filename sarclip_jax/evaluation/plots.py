"""The report's PNGs (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from etils import epath


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: epath.Path) -> epath.Path:
    import io

    buf = io.BytesIO()  # through a buffer: epath paths may be gs:// buckets
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    path.write_bytes(buf.getvalue())
    return path


def confusion_matrix_png(confusion: np.ndarray, class_names: Sequence[str], path: epath.Path, title: str) -> epath.Path:
    """Rows true class, columns prediction; cells coloured by the row's share, labelled by count."""
    plt = _pyplot()
    n = len(class_names)
    counts = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, counts, out=np.zeros(confusion.shape, float), where=counts > 0)
    side = min(2.0 + 0.55 * n, 24.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels=class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    if n <= 30:  # counts stay legible up to about this many classes
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _save(fig, path)


def recall_curve_png(ks: np.ndarray, i2t: np.ndarray, t2i: np.ndarray, path: epath.Path, title: str) -> epath.Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(ks, i2t, label="image -> text")
    ax.plot(ks, t2i, label="text -> image")
    ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel("recall@K (%)")
    ax.set_ylim(0, 101)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def few_shot_png(shots: Sequence[int], mean: Sequence[float], std: Sequence[float], full: float | None,
                 path: epath.Path, title: str) -> epath.Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    if shots:
        ax.errorbar(shots, mean, yerr=std, marker="o", capsize=3, label="few-shot (mean ± std over seeds)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(shots), labels=[str(k) for k in shots])
    if full is not None:
        ax.axhline(full, color="grey", linestyle="--", label=f"full training set ({full:.1f}%)")
    ax.set_xlabel("training images per class")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def image_pairs_png(pairs: Sequence[tuple[np.ndarray, np.ndarray]], titles: Sequence[tuple[str, str]],
                    path: epath.Path) -> epath.Path:
    """One row per pair of grey [0, 1] images, side by side, each with its title."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(pairs), 2, figsize=(4, 2 * len(pairs)), squeeze=False)
    for row, images, names in zip(axes, pairs, titles):
        for ax, image, name in zip(row, images, names):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_title(name[-40:], fontsize=6)
            ax.axis("off")
    return _save(fig, epath.Path(path))
