"""Model configurations: the OpenCLIP shapes by name, plus a tiny one for CPU tests.

The numbers mirror OpenCLIP's `model_configs/*.json` (a test holds them to the installed
open_clip's files), so a checkpoint trained under a name converts to the model of that name.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

POOL_TYPES = ("argmax", "eos", "first", "last")
VISION_POOL_TYPES = ("tok", "avg")  # the class token, or the mean of the patch tokens
REMAT_POLICIES = ("none", "full", "dots")
DTYPES = ("float32", "bfloat16", "float16")
ATTENTION = ("xla", "cudnn", "pallas")  # sarclip_jax.models.attention.IMPLEMENTATIONS


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    layers: int = 12
    head_width: int = 64
    mlp_ratio: float = 4.0
    # "tok": the class token's features represent the image (CLIP); "avg": the mean of the patch
    # tokens (OpenCLIP's pool_type="avg"), which adds up evidence from every object in the view.
    pool_type: str = "tok"

    @property
    def heads(self) -> int:
        return self.width // self.head_width

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size


@dataclasses.dataclass(frozen=True)
class TextConfig:
    context_length: int = 77
    vocab_size: int = 49408
    width: int = 512
    heads: int = 8
    layers: int = 12
    mlp_ratio: float = 4.0
    # Which token's features represent the text. CLIP BPE puts end-of-text at the highest id, so
    # "argmax" of the ids finds it; "eos" looks for `eos_id` instead.
    pool_type: str = "argmax"
    eos_id: int = 49407


@dataclasses.dataclass(frozen=True)
class CLIPConfig:
    embed_dim: int = 512
    vision: VisionConfig = VisionConfig()
    text: TextConfig = TextConfig()
    quick_gelu: bool = False  # OpenAI's weights were trained with QuickGELU; OpenCLIP's with GELU
    init_logit_scale: float = math.log(1 / 0.07)
    init_logit_bias: float | None = None  # set (e.g. -10) for the sigmoid loss
    dtype: str = "float32"  # compute dtype; parameters stay in `param_dtype`
    param_dtype: str = "float32"
    remat: str = "none"  # rematerialise each residual block: none | full | dots (keep matmuls)
    # Compile the blocks one after another instead of under lax.scan: XLA's cost analysis then
    # counts every block (it counts a loop body once); compile time grows with depth.
    unroll_layers: bool = False
    # Attention kernel: "xla" (portable), "cudnn" (fused, CUDA GPUs, 16-bit compute) or
    # "pallas" (TPU flash attention); all compute the same function.
    attention: str = "xla"

    def __post_init__(self):
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("param_dtype", self.param_dtype, DTYPES)
        _check_choice("remat", self.remat, REMAT_POLICIES)
        _check_choice("attention", self.attention, ATTENTION)
        _check_choice("text.pool_type", self.text.pool_type, POOL_TYPES)
        _check_choice("vision.pool_type", self.vision.pool_type, VISION_POOL_TYPES)
        v, t = self.vision, self.text
        if v.image_size % v.patch_size:
            raise ValueError(f"vision.image_size={v.image_size} is not a multiple of vision.patch_size={v.patch_size}")
        if v.width % v.head_width:
            raise ValueError(f"vision.width={v.width} is not a multiple of vision.head_width={v.head_width}")
        if t.width % t.heads:
            raise ValueError(f"text.width={t.width} is not a multiple of text.heads={t.heads}")

    def replace(self, **changes: Any) -> CLIPConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CLIPConfig:
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        vision = _sub_config(VisionConfig, d.pop("vision", {}), "vision")
        text = _sub_config(TextConfig, d.pop("text", {}), "text")
        return cls(vision=vision, text=text, **d)

    @classmethod
    def from_openclip(cls, d: dict[str, Any]) -> CLIPConfig:
        """Reads an OpenCLIP model-config JSON (plain ViT + text transformer models only)."""
        vision = dict(d.get("vision_cfg", {}))
        text = dict(d.get("text_cfg", {}))
        unsupported = [k for k in ("timm_model_name", "hf_model_name") if vision.get(k) or text.get(k)]
        unsupported += [k for k in ("attentional_pool", "no_ln_pre", "final_ln_after_pool", "ls_init_value",
                                    "embed_cls", "no_causal_mask", "proj_bias") if vision.get(k) or text.get(k)]
        resnet = isinstance(vision.get("layers", 12), (list, tuple))
        if vision.get("pool_type", "tok") not in VISION_POOL_TYPES or resnet:
            unsupported.append("vision pool_type/ResNet layers")
        if unsupported:
            raise ValueError(f"OpenCLIP config uses features this model does not implement: {unsupported}")
        keep_v = {f.name for f in dataclasses.fields(VisionConfig)}
        keep_t = {f.name for f in dataclasses.fields(TextConfig)}
        return cls(
            embed_dim=d["embed_dim"],
            vision=VisionConfig(**{k: v for k, v in vision.items() if k in keep_v}),
            text=TextConfig(**{k: v for k, v in text.items() if k in keep_t}),
            quick_gelu=bool(d.get("quick_gelu", False)),
            init_logit_bias=d.get("init_logit_bias"),
        )


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"model config field {field}={value!r} is not one of {list(choices)}")


def _sub_config(cls, d: dict[str, Any], name: str):
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown model config fields in {name}: {sorted(unknown)}")
    return cls(**d)


_B32 = CLIPConfig(embed_dim=512, vision=VisionConfig(patch_size=32), text=TextConfig())
_B16 = CLIPConfig(embed_dim=512, vision=VisionConfig(patch_size=16), text=TextConfig())
_L14 = CLIPConfig(
    embed_dim=768,
    vision=VisionConfig(patch_size=14, width=1024, layers=24),
    text=TextConfig(width=768, heads=12),
)

MODEL_CONFIGS: dict[str, CLIPConfig] = {
    "ViT-B-32": _B32,
    "ViT-B-32-quickgelu": _B32.replace(quick_gelu=True),
    "ViT-B-16": _B16,
    "ViT-B-16-quickgelu": _B16.replace(quick_gelu=True),
    "ViT-L-14": _L14,
    "ViT-L-14-quickgelu": _L14.replace(quick_gelu=True),
    "ViT-L-14-336": _L14.replace(vision=dataclasses.replace(_L14.vision, image_size=336)),
    # Small enough to train on a 2-core CPU in minutes; keeps the CLIP vocabulary and context so
    # the real tokenizer feeds it.
    "tiny": CLIPConfig(
        embed_dim=64,
        vision=VisionConfig(image_size=64, patch_size=8, width=96, layers=2, head_width=32),
        text=TextConfig(width=64, heads=2, layers=2),
    ),
}


def get_model_config(name: str, **overrides: Any) -> CLIPConfig:
    """The named configuration, with top-level fields (dtype, remat, ...) overridden."""
    try:
        cfg = MODEL_CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model name {name!r}; known: {sorted(MODEL_CONFIGS)}") from None
    return cfg.replace(**overrides) if overrides else cfg
