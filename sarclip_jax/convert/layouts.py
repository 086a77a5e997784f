"""Other key layouts of the same CLIP weights, brought to OpenCLIP's.

- OpenCLIP / OpenAI CLIP: `visual.transformer.resblocks.0...`, text tower at the top level.
- OpenCLIP `CustomTextCLIP`: the text tower under `text.`.
- Hugging Face `transformers.CLIPModel`: `vision_model.encoder.layers.0.self_attn.q_proj...`,
  with separate q/k/v projections and (out, in) projection matrices.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

OPENCLIP, CUSTOM_TEXT, HF = "openclip", "openclip-custom-text", "hf-transformers"

_CUSTOM_TEXT_KEYS = ("text.token_embedding.", "text.positional_embedding", "text.transformer.",
                     "text.ln_final.", "text.text_projection")
_HF_BLOCK = re.compile(r"^(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)$")
_HF_BLOCK_LEAVES = {
    "layer_norm1.weight": "ln_1.weight", "layer_norm1.bias": "ln_1.bias",
    "layer_norm2.weight": "ln_2.weight", "layer_norm2.bias": "ln_2.bias",
    "mlp.fc1.weight": "mlp.c_fc.weight", "mlp.fc1.bias": "mlp.c_fc.bias",
    "mlp.fc2.weight": "mlp.c_proj.weight", "mlp.fc2.bias": "mlp.c_proj.bias",
    "self_attn.out_proj.weight": "attn.out_proj.weight", "self_attn.out_proj.bias": "attn.out_proj.bias",
}
_HF_TOP = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",  # (sic) transformers' spelling
    "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
    "vision_model.post_layernorm.weight": "visual.ln_post.weight",
    "vision_model.post_layernorm.bias": "visual.ln_post.bias",
    "logit_scale": "logit_scale",
}
_HF_TRANSPOSED = {"text_projection.weight": "text_projection", "visual_projection.weight": "visual.proj"}
_HF_BUFFERS = ("text_model.embeddings.position_ids", "vision_model.embeddings.position_ids")


def detect_layout(state_dict: Mapping[str, np.ndarray]) -> str:
    if any(k.startswith(("text_model.", "vision_model.")) for k in state_dict):
        return HF
    if any(k.startswith(_CUSTOM_TEXT_KEYS) for k in state_dict):
        return CUSTOM_TEXT
    return OPENCLIP


def to_openclip_layout(state_dict: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """(state dict in OpenCLIP keys, name of the layout it came in)."""
    layout = detect_layout(state_dict)
    if layout == HF:
        return _from_hf(state_dict), layout
    if layout == CUSTOM_TEXT:
        return {(k[len("text."):] if k.startswith(_CUSTOM_TEXT_KEYS) else k): v for k, v in state_dict.items()}, layout
    return dict(state_dict), layout


def _from_hf(sd: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    qkv: dict[tuple[str, int, str], dict[str, np.ndarray]] = {}
    for key, value in sd.items():
        if key in _HF_BUFFERS:
            continue
        if key in _HF_TOP:
            out[_HF_TOP[key]] = value
        elif key in _HF_TRANSPOSED:
            out[_HF_TRANSPOSED[key]] = value.T
        elif m := _HF_BLOCK.match(key):
            tower, index, leaf = m.group(1), int(m.group(2)), m.group(3)
            prefix = "visual.transformer.resblocks" if tower == "vision" else "transformer.resblocks"
            if leaf in _HF_BLOCK_LEAVES:
                out[f"{prefix}.{index}.{_HF_BLOCK_LEAVES[leaf]}"] = value
            elif (p := re.fullmatch(r"self_attn\.([qkv])_proj\.(weight|bias)", leaf)):
                qkv.setdefault((prefix, index, p.group(2)), {})[p.group(1)] = value
            else:
                out[key] = value  # left as is: the key check reports it as unexpected
        else:
            out[key] = value
    for (prefix, index, kind), parts in qkv.items():
        name = "in_proj_weight" if kind == "weight" else "in_proj_bias"
        missing = [c for c in "qkv" if c not in parts]
        if missing:
            raise ValueError(f"HF weights: layer {prefix}.{index} lacks self_attn.{missing}_proj.{kind}")
        # torch's MultiheadAttention stacks q, k, v in that order along the output axis.
        out[f"{prefix}.{index}.attn.{name}"] = np.concatenate([parts["q"], parts["k"], parts["v"]], axis=0)
    return out
