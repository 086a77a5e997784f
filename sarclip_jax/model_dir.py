"""This project's own model directories: the config as JSON beside Orbax-saved parameters.

    DIR/model_config.json   the CLIPConfig (architecture, dtypes)
    DIR/params/             Orbax checkpoint of the parameters (nested dict, JAX layout)
    DIR/tokenizer.model     its sentencepiece tokenizer, if it has one (else CLIP's BPE)

`sarclip convert --to DIR` writes one, the trainer exports one to WORKDIR/model at the end of a
run; `sarclip_jax.load(DIR)` reads either (given DIR or WORKDIR). Paths go through
etils.epath, so DIR may be a gs:// bucket.

A loaded model knows where it came from: `model.source` (the directory) and
`model.tokenizer_spec` (its tokenizer.model, else "clip"), which `text.tokenizer.tokenizer_for`
reads. They are static attributes of the NNX module, so they survive nnx.jit, nnx.split/merge and
nnx.clone; being part of the graph definition, models from different directories compile the
jitted encoders separately. A model built another way (nnx.merge of the trainer's abstract
graph, conversion) has neither; its tokenizer is the one passed, else "clip".
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jax
import numpy as np
from etils import epath

from sarclip_jax.models.clip import CLIP
from sarclip_jax.models.config import CLIPConfig
from sarclip_jax.models.params import abstract_model, flat_params, model_from_flat_params

CONFIG_FILE = "model_config.json"
PARAMS_DIR = "params"
TOKENIZER_FILE = "tokenizer.model"  # a sentencepiece model, when the text tower was trained with one


EXPORT_SUBDIR = "model"  # where the trainer exports its final model inside a work directory


def is_model_dir(path: str | epath.PathLike) -> bool:
    """True for a model directory, or a training work directory holding one."""
    return resolve_model_dir(path) is not None


def resolve_model_dir(path: str | epath.PathLike) -> epath.Path | None:
    path = epath.Path(path)
    for candidate in (path, path / EXPORT_SUBDIR):
        if candidate.is_dir() and (candidate / CONFIG_FILE).exists():
            return candidate
    return None


def save_model(model: CLIP, directory: str | epath.PathLike, *, overwrite: bool = False,
               tokenizer: str | epath.PathLike | None = None) -> epath.Path:
    """Writes `model` (and a copy of its sentencepiece `tokenizer` file) to `directory`; the
    tokenizer defaults to the one the model was loaded with, so a copied directory keeps it."""
    import orbax.checkpoint as ocp

    directory = epath.Path(directory)
    if tokenizer is None and str(getattr(model, "tokenizer_spec", "")).endswith(".model"):
        tokenizer = model.tokenizer_spec
    if (directory / PARAMS_DIR).exists() and not overwrite:
        raise FileExistsError(f"{directory} already holds a model; pass overwrite=True to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save((directory / PARAMS_DIR).resolve(), _nest(flat_params(model)), force=overwrite)
    if jax.process_index() == 0:  # the parameters were saved by every process together
        (directory / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
        if tokenizer is not None:
            (directory / TOKENIZER_FILE).write_bytes(epath.Path(tokenizer).read_bytes())
    return directory


def tokenizer_spec(directory: str | epath.PathLike) -> str:
    """The tokenizer a model directory was trained with: its own sentencepiece file, else "clip"."""
    model_dir = resolve_model_dir(directory)
    if model_dir is not None and (model_dir / TOKENIZER_FILE).exists():
        return str(model_dir / TOKENIZER_FILE)
    return "clip"


def read_model_config(directory: str | epath.PathLike) -> CLIPConfig:
    path = (resolve_model_dir(directory) or epath.Path(directory)) / CONFIG_FILE
    try:
        return CLIPConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"{directory} is not a sarclip_jax model directory: no {CONFIG_FILE}") from None
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid model config ({e})") from e


def load_model(directory: str | epath.PathLike, *, shardings: Mapping[str, jax.sharding.Sharding] | None = None,
               **config_overrides) -> CLIP:
    """The model saved in `directory`; `config_overrides` may change dtype, param_dtype or remat."""
    import orbax.checkpoint as ocp

    directory = resolve_model_dir(directory) or epath.Path(directory)
    saved_cfg = read_model_config(directory)
    cfg = saved_cfg.replace(**config_overrides) if config_overrides else saved_cfg
    abstract = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=(shardings or {}).get(k))
                for k, v in flat_params(abstract_model(saved_cfg)).items()}
    with ocp.StandardCheckpointer() as ckptr:
        restored = ckptr.restore((directory / PARAMS_DIR).resolve(), _nest(abstract))
    model = model_from_flat_params(cfg, _flatten(restored), shardings=shardings)
    model.source = str(directory)
    model.tokenizer_spec = tokenizer_spec(directory)
    return model


def _nest(flat: Mapping[str, object]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
