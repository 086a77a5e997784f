"""Weights in and out of the PyTorch world (OpenCLIP, OpenAI CLIP, HF transformers, SARCLIP).

    model = load_pytorch_weights("open_clip_model.safetensors", "ViT-B-32")
    export_openclip(model, "out.safetensors")   # open_clip.create_model("ViT-B-32", pretrained=...)
"""

from __future__ import annotations

import numpy as np
from etils import epath

from sarclip_jax.convert.layouts import detect_layout, to_openclip_layout
from sarclip_jax.convert.openclip import check_openclip_keys, from_openclip, to_openclip
from sarclip_jax.convert.state_dict_io import read_state_dict, write_safetensors
from sarclip_jax.models.clip import CLIP
from sarclip_jax.models.config import CLIPConfig, get_model_config
from sarclip_jax.models.params import flat_params, model_from_flat_params

EXPORT_DTYPES = ("float32", "float16")


def resolve_config(model: str | CLIPConfig, **overrides) -> CLIPConfig:
    cfg = get_model_config(model) if isinstance(model, str) else model
    return cfg.replace(**overrides) if overrides else cfg


def load_pytorch_weights(path: str | epath.PathLike, model: str | CLIPConfig, **overrides) -> CLIP:
    """A JAX CLIP from an OpenCLIP / OpenAI / HF CLIPModel weight file (.safetensors, .pt, .bin)."""
    cfg = resolve_config(model, **overrides)
    state_dict, _ = to_openclip_layout(read_state_dict(path))
    try:
        params = from_openclip(state_dict, cfg)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return model_from_flat_params(cfg, params)


def openclip_state_dict(model: CLIP, dtype: str = "float32") -> dict[str, np.ndarray]:
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"export dtype {dtype!r} is not one of {EXPORT_DTYPES}")
    params = {k: np.asarray(v, dtype=np.float32) for k, v in flat_params(model).items()}
    return {k: v.astype(dtype) for k, v in to_openclip(params, model.config).items()}


def export_openclip(model: CLIP, path: str | epath.PathLike, dtype: str = "float32") -> epath.Path:
    """Writes a .safetensors that `open_clip.create_model(name, pretrained=path)` loads."""
    path = epath.Path(path)
    write_safetensors(openclip_state_dict(model, dtype), path, metadata={"format": "pt", "producer": "sarclip_jax"})
    return path


__all__ = [
    "check_openclip_keys", "detect_layout", "export_openclip", "from_openclip", "load_pytorch_weights",
    "openclip_state_dict", "read_state_dict", "resolve_config", "to_openclip", "to_openclip_layout",
    "write_safetensors",
]
