"""Checks a training config before any work starts: every problem, each naming its field.

Unknown fields and wrong types are caught when overrides are applied (`config_loading`); this
module checks values and how they fit the machine (devices, paths).
"""

from __future__ import annotations

import math
import re

import jax
import ml_collections
from etils import epath

from sarclip_jax.models.config import MODEL_CONFIGS, VISION_POOL_TYPES, CLIPConfig
from sarclip_jax.sharding import BATCH_AXES, MESH_AXES, MeshConfig
from sarclip_jax.train.step import LOSSES, POSITIVES

REQUIRED = ("seed", "model", "loss", "mesh", "batch_size", "accum_steps", "total_steps", "optim", "log_every",
            "eval_every", "checkpoint")


class ConfigError(ValueError):
    pass


def validate_train_config(cfg: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
    errors: list[str] = []
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise ConfigError(f"config lacks required fields: {missing}")
    num_devices = jax.device_count() if num_devices is None else num_devices

    def check(ok: bool, message: str):
        if not ok:
            errors.append(message)

    m = cfg.model
    check(m.name in MODEL_CONFIGS, f"model.name={m.name!r}: one of {sorted(MODEL_CONFIGS)}")
    try:
        CLIPConfig(dtype=m.dtype, param_dtype=m.param_dtype, remat=m.remat)
    except ValueError as e:
        errors.append(str(e).replace("model config field ", "model."))
    check(m.get("vision_pool_type", "tok") in VISION_POOL_TYPES,
          f"model.vision_pool_type={m.get('vision_pool_type')!r}: one of {list(VISION_POOL_TYPES)}")
    if m.get("init_from"):
        check(epath.Path(m.init_from).exists(), f"model.init_from={m.init_from!r}: no such file or directory")
    d = cfg.get("data") or {}
    if m.name in MODEL_CONFIGS and "context_length" in d and not str(d.get("tokenizer", "")).endswith(".model"):
        # A CLIP-BPE text tower keeps its named positions; only towers trained from scratch on a
        # sentencepiece tokenizer take data.context_length as theirs.
        positions = MODEL_CONFIGS[m.name].text.context_length
        check(d.context_length == positions, f"data.context_length={d.context_length}: model {m.name}'s text "
              f"tower has {positions} positions (a shorter context needs a sentencepiece tokenizer trained here)")
    check(cfg.loss.kind in LOSSES, f"loss.kind={cfg.loss.kind!r}: one of {list(LOSSES)}")
    check(cfg.loss.block_size >= 0, f"loss.block_size={cfg.loss.block_size}: must be >= 0 (0: chosen)")
    check(cfg.loss.get("positives", "pair") in POSITIVES,
          f"loss.positives={cfg.loss.get('positives')!r}: one of {list(POSITIVES)}")
    check(cfg.loss.get("label_weight", 0.0) >= 0,
          f"loss.label_weight={cfg.loss.get('label_weight')}: must be >= 0 (0: no label term)")
    check(cfg.loss.get("memory_mib", 64.0) > 0, f"loss.memory_mib={cfg.loss.get('memory_mib')}: must be > 0")
    per_image = d.get("captions_per_image", 1)
    check(isinstance(per_image, int) and per_image >= 1, f"data.captions_per_image={per_image}: must be an integer >= 1")
    check(per_image == 1 or cfg.loss.get("positives", "pair") == "pair",
          f"data.captions_per_image={per_image} with loss.positives={cfg.loss.get('positives')!r}: not supported; "
          "use loss.positives='pair' (each image's captions are its positives)")

    shards = None
    try:
        sizes = dict(zip(MESH_AXES, MeshConfig(**cfg.mesh).resolve(num_devices)))
        shards = math.prod(sizes[a] for a in BATCH_AXES)
    except (ValueError, TypeError) as e:
        errors.append(f"mesh: {e}")
    check(cfg.accum_steps >= 1, f"accum_steps={cfg.accum_steps}: must be >= 1")
    if shards and cfg.accum_steps >= 1:
        unit = shards * cfg.accum_steps
        check(cfg.batch_size > 0 and cfg.batch_size % unit == 0,
              f"batch_size={cfg.batch_size}: must be a positive multiple of {unit} "
              f"({shards} batch shards on this mesh x accum_steps={cfg.accum_steps})")
    check(cfg.total_steps > 0, f"total_steps={cfg.total_steps}: must be > 0")
    check(cfg.log_every > 0, f"log_every={cfg.log_every}: must be > 0")
    check(cfg.eval_every >= 0, f"eval_every={cfg.eval_every}: must be >= 0 (0 disables)")

    o = cfg.optim
    check(o.lr > 0, f"optim.lr={o.lr}: must be > 0")
    check(o.warmup_steps >= 0, f"optim.warmup_steps={o.warmup_steps}: must be >= 0")
    check(0 <= o.b1 < 1 and 0 <= o.b2 < 1, f"optim.b1={o.b1}, optim.b2={o.b2}: must be in [0, 1)")
    check(o.weight_decay >= 0, f"optim.weight_decay={o.weight_decay}: must be >= 0")
    check(o.clip_norm >= 0, f"optim.clip_norm={o.clip_norm}: must be >= 0 (0 disables)")
    for field in ("no_decay",):
        if o.get(field):
            errors += _regex_errors(f"optim.{field}", [o[field]])
    errors += _regex_errors("optim.freeze", list(o.get("freeze", ()) or ()))

    c = cfg.checkpoint
    check(c.every > 0, f"checkpoint.every={c.every}: must be > 0")
    check(c.keep >= 1, f"checkpoint.keep={c.keep}: must be >= 1")
    check(c.get("best_mode", "max") in ("max", "min"), f"checkpoint.best_mode={c.get('best_mode')!r}: 'max' or 'min'")
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))


def _regex_errors(field: str, patterns: list[str]) -> list[str]:
    out = []
    for p in patterns:
        try:
            re.compile(p)
        except re.error as e:
            out.append(f"{field}: {p!r} is not a valid regular expression ({e})")
    return out
