"""The optimizer: AdamW with linear warm-up and cosine decay, global-norm clipping, selective
weight decay and per-tower freezing. Configured from `config.optim`:

    config.optim = dict(lr=5e-5, end_lr=0.0, warmup_steps=1000, b1=0.9, b2=0.98, eps=1e-6,
                        weight_decay=0.01, clip_norm=1.0,
                        no_decay=DEFAULT_NO_DECAY,                       # regex on param paths
                        freeze=[r"visual\\..*"])                           # LiT: lock the image tower
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jax
import optax

# Biases, norms, embeddings and the temperature are not decayed (CLIP's and OpenCLIP's choice).
DEFAULT_NO_DECAY = r".*(bias|ln_\w+\.weight|embedding(\.weight)?|logit_scale)"


def param_paths(params) -> Any:
    """A pytree like `params` whose leaves are the dotted paths of the parameters."""
    return jax.tree_util.tree_map_with_path(lambda path, _: ".".join(_key(k) for k in path), params)


def _key(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def matches(params, patterns: Sequence[str]) -> Any:
    """A bool pytree: True where the parameter's path fully matches any of the regexes."""
    compiled = [re.compile(p) for p in patterns]
    return jax.tree.map(lambda path: any(c.fullmatch(path) for c in compiled), param_paths(params))


def learning_rate_schedule(lr: float, warmup_steps: int, total_steps: int, end_lr: float = 0.0) -> optax.Schedule:
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup_steps = min(warmup_steps, total_steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=lr, warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1), end_value=end_lr)


def make_optimizer(optim_cfg, params, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(transformation, learning-rate schedule) for `params` (a pytree or its shapes)."""
    schedule = learning_rate_schedule(optim_cfg.lr, optim_cfg.warmup_steps, total_steps, optim_cfg.get("end_lr", 0.0))
    decay_mask = jax.tree.map(lambda no: not no, matches(params, [optim_cfg.get("no_decay", DEFAULT_NO_DECAY)]))
    adamw = optax.chain(
        optax.clip_by_global_norm(optim_cfg.clip_norm) if optim_cfg.clip_norm else optax.identity(),
        optax.adamw(schedule, b1=optim_cfg.b1, b2=optim_cfg.b2, eps=optim_cfg.eps,
                    weight_decay=optim_cfg.weight_decay, mask=decay_mask),
    )
    freeze = list(optim_cfg.get("freeze", ()) or ())
    if not freeze:
        return adamw, schedule
    frozen = matches(params, freeze)
    if not any(jax.tree.leaves(frozen)):
        raise ValueError(f"optim.freeze={freeze} matches no parameter (paths look like 'visual.conv1')")
    if all(jax.tree.leaves(frozen)):
        raise ValueError(f"optim.freeze={freeze} freezes every parameter")
    labels = jax.tree.map(lambda f: "frozen" if f else "trained", frozen)
    # Frozen parameters get no update and keep no Adam moments.
    return optax.multi_transform({"trained": adamw, "frozen": optax.set_to_zero()}, labels), schedule
