"""Everything a training step needs, built once from a model config, an optimizer config and a
mesh: the optimizer and schedule, the shardings of the state and batch, and the jitted step.

    t = build(get_model_config("tiny"), cfg.optim, mesh, total_steps=1000)
    state = t.init_state(seed=0)
    state, metrics = t.train_step(state, batch)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import optax
from flax import nnx
from jax.sharding import Mesh

from sarclip_jax import sharding
from sarclip_jax.models.config import CLIPConfig
from sarclip_jax.train import optim
from sarclip_jax.train import train_state as state_lib
from sarclip_jax.train.step import StepConfig, make_train_step


@dataclasses.dataclass
class Training:
    model_cfg: CLIPConfig
    graphdef: nnx.GraphDef
    tx: optax.GradientTransformation
    schedule: optax.Schedule
    shardings: dict
    batch_shardings: dict
    train_step: Callable

    def init_state(self, seed: int, params: Any = None) -> dict:
        return state_lib.init_state(self.model_cfg, self.tx, self.shardings, seed, params)


def build(model_cfg: CLIPConfig, optim_cfg, mesh: Mesh, total_steps: int,
          step_cfg: StepConfig = StepConfig()) -> Training:
    _, abstract = state_lib.abstract_params(model_cfg)
    tx, schedule = optim.make_optimizer(optim_cfg, nnx.to_pure_dict(abstract), total_steps)
    graphdef, shardings = state_lib.state_shardings(model_cfg, tx, mesh)
    batch_sh = {"image": sharding.batch_sharding(mesh), "text": sharding.batch_sharding(mesh)}
    for field in step_cfg.batch_ids:  # caption_ids / label_ids
        batch_sh[field] = sharding.batch_sharding(mesh)
    step = make_train_step(graphdef, tx, schedule, step_cfg, mesh, shardings, batch_sh, sharding.replicated(mesh))
    return Training(model_cfg, graphdef, tx, schedule, shardings, batch_sh, step)
