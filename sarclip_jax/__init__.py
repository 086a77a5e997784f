"""sarclip_jax: SARCLIP, the CLIP model for Synthetic Aperture Radar imagery, in JAX/Flax.

    import sarclip_jax
    model, preprocess, tokenizer = sarclip_jax.load("model.safetensors", model_name="ViT-B-32")
    image_emb = sarclip_jax.encode_image(model, ["scene.png"])
    text_emb = sarclip_jax.encode_text(model, ["two ships in the upper left"], tokenizer)
    probs = sarclip_jax.zero_shot(model, ["scene.png"], ["ship", "oil tank"], tokenizer)
"""

__version__ = "0.1.0"

_API = ("load", "encode_image", "encode_text", "zero_shot")


def __getattr__(name):
    # Imported on first use, so that `sarclip --help` and light sub-packages skip JAX start-up.
    if name in _API:
        from sarclip_jax import api

        return getattr(api, name)
    raise AttributeError(f"module 'sarclip_jax' has no attribute {name!r}")


__all__ = ["__version__", *_API]
