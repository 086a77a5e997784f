"""Test helpers around the OpenCLIP reference (sarclip_jax.convert.reference): the JAX side."""

import numpy as np

from sarclip_jax.convert.reference import (  # noqa: F401  (re-exported for the tests)
    EOT,
    SOT,
    open_clip,
    openclip_model,
    openclip_outputs,
    random_inputs,
    state_dict_numpy,
)


def jax_outputs(model, images: np.ndarray, ids: np.ndarray) -> dict:
    import jax
    from flax import nnx

    @nnx.jit
    def run(model, images, ids):
        return model.encode_image(images), model.encode_text(ids), model.get_logits(images, ids)[0]

    image, text, logits = run(model, images, ids)
    return {"image": np.asarray(image), "text": np.asarray(text), "logits": np.asarray(jax.device_get(logits))}


def max_rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference relative to the reference's largest magnitude."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
