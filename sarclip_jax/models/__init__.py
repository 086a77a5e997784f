"""Flax NNX dual encoders with OpenCLIP's shapes and parameter names."""

from sarclip_jax.models.clip import CLIP, create_model, l2_normalize
from sarclip_jax.models.config import MODEL_CONFIGS, CLIPConfig, TextConfig, VisionConfig, get_model_config
from sarclip_jax.models.text import TextTransformer
from sarclip_jax.models.vision import VisionTransformer

__all__ = [
    "CLIP", "CLIPConfig", "MODEL_CONFIGS", "TextConfig", "TextTransformer", "VisionConfig",
    "VisionTransformer", "create_model", "get_model_config", "l2_normalize",
]
