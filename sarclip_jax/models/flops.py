"""Model FLOPs counted from the config, for MFU and for planning runs.

XLA's `cost_analysis()` counts the body of a `while`/`scan` loop once, so for towers whose blocks
run under `lax.scan` it reports a fraction of the real work (a ViT-B-32 step: 38 GFLOP reported,
~354 real). MFU is therefore computed from the matrix products the model does, counted here:

    forward of one (image, text) pair = vision tower + text tower (matmuls, 2 FLOPs per MAC)
    a training step = 3 x forward (backward = 2 x forward) + the loss's logits, forward and back

Elementwise work (LayerNorm, softmax, GELU, the optimizer update) is left out, as in the usual
MFU convention (PaLM, MaxText); rematerialisation's recomputation is not model FLOPs either.
A test holds the count to XLA's own for an unrolled, rematerialisation-free step.
"""

from __future__ import annotations

from sarclip_jax.models.config import CLIPConfig


def _block_macs(tokens: int, width: int, mlp_ratio: float) -> int:
    """One pre-LN residual block: fused q/k/v (3 w^2), output projection (w^2), the MLP
    (2 r w^2) per token, plus q @ k.T and probabilities @ v over all heads (2 n^2 w)."""
    hidden = int(width * mlp_ratio)
    per_token = 3 * width * width + width * width + 2 * width * hidden
    return tokens * per_token + 2 * tokens * tokens * width


def vision_macs(cfg: CLIPConfig) -> int:
    v = cfg.vision
    patches = v.grid_size ** 2
    embed = patches * (3 * v.patch_size ** 2) * v.width  # the patch convolution
    blocks = v.layers * _block_macs(patches + 1, v.width, v.mlp_ratio)
    return embed + blocks + v.width * cfg.embed_dim  # projection of the pooled class token


def text_macs(cfg: CLIPConfig) -> int:
    t = cfg.text
    # The token embedding is a gather; the causal mask does not skip any product here.
    return t.layers * _block_macs(t.context_length, t.width, t.mlp_ratio) + t.width * cfg.embed_dim


def forward_flops_per_pair(cfg: CLIPConfig) -> int:
    """FLOPs of encoding one image and one text."""
    return 2 * (vision_macs(cfg) + text_macs(cfg))


def loss_flops(cfg: CLIPConfig, global_batch: int, captions_per_image: int = 1) -> int:
    """The logits over the batch's rows (B x K of each, K captions per image), computed once
    forward and twice backward (d_image, d_text)."""
    rows = global_batch * captions_per_image
    return 3 * 2 * rows * rows * cfg.embed_dim


def train_step_flops(cfg: CLIPConfig, global_batch: int, captions_per_image: int = 1) -> int:
    """Model FLOPs of one optimizer step over `global_batch` images, each with K captions (any
    accumulation split)."""
    encode = 2 * (vision_macs(cfg) + captions_per_image * text_macs(cfg))
    return 3 * global_batch * encode + loss_flops(cfg, global_batch, captions_per_image)


def eval_flops_per_image(cfg: CLIPConfig) -> int:
    return 2 * vision_macs(cfg)
