"""Evaluator config entries: defaults filled in, unknown keys refused (probably a typo)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

from sarclip_jax.data import sar_radiometry

# Fields every evaluator reads (data fields are described in sarclip_jax/evaluation/sources.py).
COMMON = dict(
    kind="", name="",  # name: metric prefix and report folder; default the kind
    dataset="", folder="", csv="", image_root="", split="test", data_dir=None, source="",
    float_scale="amplitude", classes=None,
    batch_size=64, text_batch_size=256, workers=2, max_items=0,
    image_pipeline="sar", radiometry=None,
    tokenizer=None,  # None: the model's own (text.tokenizer.tokenizer_for); or "clip", a *.gz or *.model path
)


def plain(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, ml_collections.ConfigDict):
        return cfg.to_dict()
    if isinstance(cfg, ml_collections.FrozenConfigDict):
        return ml_collections.ConfigDict(cfg).to_dict()
    return dict(cfg or {})


def resolve(cfg: Any, kind: str, specific: Mapping[str, Any]) -> ml_collections.ConfigDict:
    """cfg over COMMON + `specific` defaults; a key in neither is an error naming it."""
    given = plain(cfg)
    defaults = {**COMMON, **specific}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{kind} evaluator: unknown config keys {unknown} (probably a typo); "
                         f"known: {sorted(defaults)}")
    if given.get("kind") not in (None, "", kind):
        raise ValueError(f"config kind {given['kind']!r} given to the {kind} evaluator")
    out = {**defaults, **given, "kind": kind}
    out["name"] = out["name"] or kind
    if out["batch_size"] < 1 or out["text_batch_size"] < 1 or out["workers"] < 0:
        raise ValueError(f"{kind} evaluator: batch_size and text_batch_size must be >= 1, workers >= 0 "
                         "(0: images read in this process)")
    return ml_collections.ConfigDict(out, type_safe=False)


def radiometry(cfg) -> sar_radiometry.Radiometry:
    given = plain(cfg.get("radiometry"))
    return sar_radiometry.Radiometry(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
