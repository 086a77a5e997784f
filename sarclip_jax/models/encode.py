"""The jitted, normalised encoders every reader of a model uses (API, evaluators), and fixed-size
batching so that each input shape compiles once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx


@nnx.jit
def image_features(model, images: jnp.ndarray) -> jnp.ndarray:
    """L2-normalised float32 image embeddings of a CLIP-normalised NHWC batch."""
    return model.encode_image(images, normalize=True).astype(jnp.float32)


@nnx.jit
def text_features(model, ids: jnp.ndarray) -> jnp.ndarray:
    """L2-normalised float32 text embeddings of a batch of token ids."""
    return model.encode_text(ids, normalize=True).astype(jnp.float32)


def batched(fn: Callable[[np.ndarray], Any], x: np.ndarray, batch_size: int) -> np.ndarray:
    """fn over fixed-size chunks of x (the last one padded with copies of its first row)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n = len(x)
    size = min(batch_size, max(n, 1))
    outputs = []
    for start in range(0, n, size):
        chunk = x[start:start + size]
        pad = size - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, axis=0)])
        outputs.append(np.asarray(fn(chunk))[:size - pad])
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
