"""The mechanical mapping between OpenCLIP state dicts and this project's parameters.

OpenCLIP (and OpenAI CLIP, which shares its keys) name a block's weights
`visual.transformer.resblocks.{i}.attn.in_proj_weight`, stored (out, in). Here the same name
without the index holds all blocks stacked, in JAX layout (in, out), with heads split out, and
the text tower sits under `text.`. Each rule below is one leaf's move between the two layouts;
the same functions run on numpy arrays and, under `jax.eval_shape`, on shapes alone, so the
check of a file against a model and the conversion cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from sarclip_jax.models.config import CLIPConfig

Array = Any  # numpy or jax array
Rule = tuple[str, Callable[[Array], Array], Callable[[Array], Array]]  # torch name, to_jax, to_torch

# Entries some files carry that are not weights (OpenAI's JIT metadata).
IGNORED_KEYS = frozenset({"input_resolution", "context_length", "vocab_size"})


def _identity(x):
    return x


def _transpose(x):
    return x.T


def _block_rules(width: int, heads: int) -> dict[str, Rule]:
    head_dim = width // heads
    return {
        "attn.in_proj_weight": (
            "attn.in_proj_weight",
            lambda w: w.T.reshape(width, 3, heads, head_dim),
            lambda w: w.reshape(width, 3 * width).T),
        "attn.in_proj_bias": (
            "attn.in_proj_bias",
            lambda b: b.reshape(3, heads, head_dim),
            lambda b: b.reshape(3 * width)),
        "attn.out_proj.weight": (
            "attn.out_proj.weight",
            lambda w: w.T.reshape(heads, head_dim, width),
            lambda w: w.reshape(width, width).T),
        "attn.out_proj.bias": ("attn.out_proj.bias", _identity, _identity),
        "ln_1.weight": ("ln_1.weight", _identity, _identity),
        "ln_1.bias": ("ln_1.bias", _identity, _identity),
        "ln_2.weight": ("ln_2.weight", _identity, _identity),
        "ln_2.bias": ("ln_2.bias", _identity, _identity),
        "mlp.c_fc.weight": ("mlp.c_fc.weight", _transpose, _transpose),
        "mlp.c_fc.bias": ("mlp.c_fc.bias", _identity, _identity),
        "mlp.c_proj.weight": ("mlp.c_proj.weight", _transpose, _transpose),
        "mlp.c_proj.bias": ("mlp.c_proj.bias", _identity, _identity),
    }


def _top_rules(cfg: CLIPConfig) -> dict[str, Rule]:
    rules: dict[str, Rule] = {
        # torch conv weight (out, in, kh, kw) <-> HWIO kernel (kh, kw, in, out)
        "visual.conv1": ("visual.conv1.weight", lambda w: w.transpose(2, 3, 1, 0), lambda w: w.transpose(3, 2, 0, 1)),
        "text.token_embedding.weight": ("token_embedding.weight", _identity, _identity),
        "text.positional_embedding": ("positional_embedding", _identity, _identity),
        "text.text_projection": ("text_projection", _identity, _identity),
        # Some files keep the temperature as shape [1]; the model holds a scalar.
        "logit_scale": ("logit_scale", lambda x: x.reshape(()), _identity),
    }
    for name in ("class_embedding", "positional_embedding", "proj", "ln_pre.weight", "ln_pre.bias",
                 "ln_post.weight", "ln_post.bias"):
        rules[f"visual.{name}"] = (f"visual.{name}", _identity, _identity)
    for name in ("ln_final.weight", "ln_final.bias"):
        rules[f"text.{name}"] = (name, _identity, _identity)
    if cfg.init_logit_bias is not None:
        rules["logit_bias"] = ("logit_bias", lambda x: x.reshape(()), _identity)
    return rules


def _towers(cfg: CLIPConfig):
    """(jax prefix, torch prefix, layers, rules) for each tower's stacked blocks."""
    v, t = cfg.vision, cfg.text
    return (
        ("visual.transformer.resblocks", "visual.transformer.resblocks", v.layers, _block_rules(v.width, v.heads)),
        ("text.transformer.resblocks", "transformer.resblocks", t.layers, _block_rules(t.width, t.heads)),
    )


def to_openclip(params: Mapping[str, Array], cfg: CLIPConfig) -> dict[str, Array]:
    """Flat {dotted jax path: array} -> OpenCLIP state dict (same arrays, torch layout)."""
    out: dict[str, Array] = {}
    for path, (key, _, to_torch) in _top_rules(cfg).items():
        out[key] = to_torch(params[path])
    for jax_prefix, torch_prefix, layers, rules in _towers(cfg):
        for leaf, (torch_leaf, _, to_torch) in rules.items():
            stacked = params[f"{jax_prefix}.{leaf}"]
            for i in range(layers):
                out[f"{torch_prefix}.{i}.{torch_leaf}"] = to_torch(stacked[i])
    return out


def from_openclip(state_dict: Mapping[str, np.ndarray], cfg: CLIPConfig) -> dict[str, np.ndarray]:
    """OpenCLIP state dict -> flat {dotted jax path: array}, after checking every key and shape.

    Raises ValueError listing all missing, unexpected and mis-shaped keys at once.
    """
    state_dict = dict(state_dict)
    if "logit_bias" not in state_dict and cfg.init_logit_bias is not None:
        # A CLIP checkpoint continued with the sigmoid loss: start the bias where the config says.
        state_dict["logit_bias"] = np.asarray(cfg.init_logit_bias, np.float32)
    check_openclip_keys(state_dict, cfg)
    params: dict[str, np.ndarray] = {}
    for path, (key, to_jax, _) in _top_rules(cfg).items():
        params[path] = to_jax(np.asarray(state_dict[key]))
    for jax_prefix, torch_prefix, layers, rules in _towers(cfg):
        for leaf, (torch_leaf, to_jax, _) in rules.items():
            params[f"{jax_prefix}.{leaf}"] = np.stack(
                [to_jax(np.asarray(state_dict[f"{torch_prefix}.{i}.{torch_leaf}"])) for i in range(layers)])
    return params


def expected_openclip_shapes(cfg: CLIPConfig) -> dict[str, tuple[int, ...]]:
    """Every key and shape an OpenCLIP state dict of this model has, derived from the model itself."""
    from sarclip_jax.models.params import abstract_model, flat_params

    shapes = jax.eval_shape(lambda p: to_openclip(p, cfg), flat_params(abstract_model(cfg)))
    return {k: tuple(v.shape) for k, v in shapes.items()}


def check_openclip_keys(state_dict: Mapping[str, np.ndarray], cfg: CLIPConfig) -> None:
    expected = expected_openclip_shapes(cfg)
    given = {k: tuple(np.shape(v)) for k, v in state_dict.items() if k not in IGNORED_KEYS}
    missing = sorted(set(expected) - set(given), key=_natural)
    unexpected = sorted(set(given) - set(expected), key=_natural)
    mismatched = [
        f"{k}: file has {given[k]}, model expects {expected[k]}"
        for k in sorted(set(given) & set(expected), key=_natural)
        if given[k] != expected[k] and not (k in ("logit_scale", "logit_bias") and np.prod(given[k]) == 1)]
    if missing or unexpected or mismatched:
        raise ValueError(_mismatch_report(missing, unexpected, mismatched, expected, given))


def _mismatch_report(missing, unexpected, mismatched, expected, given, limit: int = 20) -> str:
    lines = ["the weights do not fit this model configuration:"]
    for title, keys, fmt in (
        ("missing from the file", missing, lambda k: f"{k} {expected[k]}"),
        ("in the file but not in the model", unexpected, lambda k: f"{k} {given[k]}"),
        ("shape mismatches", mismatched, str),
    ):
        if keys:
            lines.append(f"  {title} ({len(keys)}):")
            lines += [f"    {fmt(k)}" for k in keys[:limit]]
            if len(keys) > limit:
                lines.append(f"    ... and {len(keys) - limit} more")
    lines.append("  (is --model the architecture the file was trained with?)")
    return "\n".join(lines)


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]
