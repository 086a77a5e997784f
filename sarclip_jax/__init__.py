"""sarclip_jax: SARCLIP, the CLIP model for Synthetic Aperture Radar imagery, in JAX/Flax.

    import sarclip_jax
    model, preprocess, tokenizer = sarclip_jax.load("runs/default")   # or "model.safetensors", model_name="ViT-B-32"
    image_emb = sarclip_jax.encode_image(model, ["s1_vv.tif", "HB03333.015", "scene.png"])  # GeoTIFF, MSTAR, PNG
    image_emb = sarclip_jax.encode_image(model, [sigma0], scale="intensity")   # float arrays state their scale
    text_emb = sarclip_jax.encode_text(model, ["two ships in the upper left"], tokenizer)  # the model's own
    probs = sarclip_jax.zero_shot(model, ["s1_vv.tif"], ["ship", "oil tank"], tokenizer)

Float GeoTIFF pixels are amplitude unless `float_scale=` says otherwise ("intensity", "db"), as in
the evaluators; images are prepared exactly as the evaluators prepare them (sarclip_jax/api.py).
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
