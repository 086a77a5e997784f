"""Experiment configs: Python files with `get_config(arg)` returning an ml_collections ConfigDict.

    cfg = load_config("configs/sarclip1m.py:model=ViT-B-16,smoke=True")
    cfg = apply_overrides(cfg, ["optim.lr=1e-4", "batch_size=512"])

The text after ':' goes to `get_config` unchanged; `parse_arg` turns "k=v,k2=v2" into a dict
for configs that take named variants. Overrides are type-checked by the ConfigDict itself and a
key that does not exist is an error that lists the keys that do.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Sequence
from typing import Any

import ml_collections
from etils import epath


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
    """'model=ViT-B-16,smoke=True' -> ConfigDict(model='ViT-B-16', smoke=True), starting from defaults."""
    out = ml_collections.ConfigDict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"config argument {item!r} is not key=value")
        if key not in out:
            raise ValueError(f"unknown config argument {key!r}; known: {sorted(out.keys())}")
        setattr(out, key, _parse_value(value, type(out[key])))
    return out


def load_config(spec: str) -> ml_collections.ConfigDict:
    path, _, arg = spec.partition(":")
    file = epath.Path(path)
    if not file.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    module_spec = importlib.util.spec_from_file_location(f"_sarclip_config_{file.stem}", str(file))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path}: a config file must define get_config(arg=None)")
    cfg = module.get_config(arg or None)
    if not isinstance(cfg, ml_collections.ConfigDict):
        raise TypeError(f"{path}: get_config returned {type(cfg).__name__}, not a ConfigDict")
    return cfg


def apply_overrides(cfg: ml_collections.ConfigDict, overrides: Sequence[str]) -> ml_collections.ConfigDict:
    """Applies 'a.b.c=value' strings (values parsed as Python literals, else kept as text)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        *parents, leaf = key.split(".")
        node = cfg
        for i, part in enumerate(parents):
            if not isinstance(node, ml_collections.ConfigDict) or part not in node:
                raise ValueError(_unknown(".".join(parents[:i + 1]), node))
            node = node[part]
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise ValueError(_unknown(key, node))
        current = node[leaf]
        parsed = _parse_value(value, type(current) if current is not None else None)
        try:
            node[leaf] = parsed
        except TypeError as e:
            raise TypeError(f"config field {key}: {e}") from None
    return cfg


def split_overrides(extra: list[str]) -> list[str]:
    """['--config.optim.lr=1e-4', '--config.batch_size', '64'] -> ['optim.lr=1e-4', 'batch_size=64']."""
    out, i = [], 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--config."):
            raise ValueError(f"unrecognised argument {arg!r} (overrides look like --config.optim.lr=1e-4)")
        key = arg[len("--config."):]
        if "=" not in key:
            if i + 1 >= len(extra):
                raise ValueError(f"{arg} needs a value")
            key, i = f"{key}={extra[i + 1]}", i + 1
        out.append(key)
        i += 1
    return out


def _unknown(key: str, node) -> str:
    known = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
    return f"unknown config field {key!r}; fields here: {known}"


def _parse_value(text: str, want: type | None):
    if want is str:
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want in (tuple, list) and isinstance(value, (tuple, list)):
        return want(value)
    return value
