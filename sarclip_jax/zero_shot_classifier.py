"""Zero-shot classifiers from class names and prompt templates (pure computation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sarclip_jax.text.prompts import get_templates

# SARCLIP's evaluation scales cosine similarities by a fixed 100, not by the learned temperature.
ZERO_SHOT_LOGIT_SCALE = 100.0


def normalize_rows(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def classifier_from_text_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """(classes, templates, dim) text embeddings -> (dim, classes) classifier.

    Each template's embedding is normalised, the templates averaged, and the mean renormalised,
    as CLIP's prompt ensembling does.
    """
    if embeddings.ndim != 3:
        raise ValueError(f"expected (classes, templates, dim) embeddings, got shape {embeddings.shape}")
    return normalize_rows(normalize_rows(embeddings).mean(axis=1)).T


def build_classifier(encode_texts: Callable[[list[str]], np.ndarray], class_names: Sequence[str],
                     templates: str | Sequence[str] = "sar") -> np.ndarray:
    """(dim, classes) classifier; `encode_texts` maps a list of strings to (n, dim) embeddings."""
    templates = get_templates(templates)
    if not class_names:
        raise ValueError("no class names given")
    prompts = [t.format(c) for c in class_names for t in templates]
    emb = np.asarray(encode_texts(prompts), np.float32)
    return classifier_from_text_embeddings(emb.reshape(len(class_names), len(templates), -1))


def zero_shot_logits(image_embeddings: np.ndarray, classifier: np.ndarray) -> np.ndarray:
    return ZERO_SHOT_LOGIT_SCALE * normalize_rows(image_embeddings) @ classifier
