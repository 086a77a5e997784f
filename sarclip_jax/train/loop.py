"""The training loop, top to bottom:

    mesh -> data -> model and optimizer -> restore (or initialise) -> jit -> steps
         -> metrics every `log_every`, evaluation every `eval_every`, checkpoints every
            `checkpoint.every` and on the last step, on SIGTERM and on a non-finite loss
         -> wait for saves

It reads the config sections `model`, `loss`, `data`, `mesh`, `optim`, `checkpoint`, `evals`
(see configs/default.py). Evaluators come from the `eval` package through its public
`build_evaluator`; the loop only sees their headline numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
from etils import epath
from flax import nnx

from sarclip_jax import sharding
from sarclip_jax.models import flops as flops_lib
from sarclip_jax.models.config import CLIPConfig, get_model_config
from sarclip_jax.text import tokenizer as tokenizer_lib
from sarclip_jax.train import checkpointing, console, metrics, trainer
from sarclip_jax.train import train_state as state_lib
from sarclip_jax.train.step import StepConfig
from sarclip_jax.train.validate import validate_train_config

log = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    pass


@dataclasses.dataclass
class RunResult:
    final_step: int
    stopped_by: str  # "completed" | "preempted" | "non-finite loss"
    last_metrics: dict[str, float]
    eval_metrics: dict[str, float]


def model_config(cfg: ml_collections.ConfigDict) -> CLIPConfig:
    m = cfg.model
    overrides = dict(dtype=m.dtype, param_dtype=m.param_dtype, remat=m.remat, attention=m.get("attention", "xla"),
                     unroll_layers=m.get("unroll_layers", False))
    if cfg.loss.kind == "siglip":
        overrides["init_logit_bias"] = m.get("init_logit_bias", -10.0)
    if m.get("init_logit_scale") is not None:  # log of the starting softmax scale (CLIP: log(1/0.07))
        overrides["init_logit_scale"] = float(m.init_logit_scale)
    model_cfg = get_model_config(m.name, **overrides)
    if m.get("vision_pool_type"):  # "tok" | "avg": how the image tower pools its tokens
        model_cfg = model_cfg.replace(vision=dataclasses.replace(model_cfg.vision, pool_type=m.vision_pool_type))
    vocab = tokenizer_lib.vocab_size_of(cfg.data.tokenizer) if "data" in cfg else None
    if vocab is not None:  # a text tower trained from scratch embeds exactly its tokenizer's ids
        model_cfg = model_cfg.replace(text=dataclasses.replace(model_cfg.text, vocab_size=vocab, eos_id=vocab - 1))
        # ... and has as many positions as its batches have tokens (short template captions need few).
        length = int(cfg.data.get("context_length", model_cfg.text.context_length))
        model_cfg = model_cfg.replace(text=dataclasses.replace(model_cfg.text, context_length=length))
    return model_cfg


def step_config(cfg: ml_collections.ConfigDict) -> StepConfig:
    """The loss and accumulation of cfg's train step (the trainer's and `sarclip plan`'s)."""
    return StepConfig(loss=cfg.loss.kind, block_size=cfg.loss.block_size, accum_steps=cfg.accum_steps,
                      positives=cfg.loss.get("positives", "pair"), memory_mib=cfg.loss.get("memory_mib", 64.0),
                      label_weight=float(cfg.loss.get("label_weight", 0.0)),
                      captions_per_image=int(cfg.data.get("captions_per_image", 1)) if "data" in cfg else 1)


def initial_params(cfg: ml_collections.ConfigDict, model_cfg: CLIPConfig):
    """Nested params to start from (domain transfer), or None for a random initialisation."""
    source = cfg.model.get("init_from", "")
    if not source:
        return None
    from sarclip_jax import convert, model_dir

    if model_dir.is_model_dir(source):
        saved = model_dir.read_model_config(source)
        if (saved.vision, saved.text, saved.embed_dim) != (model_cfg.vision, model_cfg.text, model_cfg.embed_dim):
            raise ValueError(f"model.init_from={source} holds a different architecture than model.name={cfg.model.name}")
        model = model_dir.load_model(source)
    else:
        model = convert.load_pytorch_weights(source, model_cfg)
    console.say("initialised from %s", source)
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def train(cfg: ml_collections.ConfigDict, workdir: str | epath.PathLike,
          data_fn: Callable[..., Any], evaluators: dict[str, Any] | None = None,
          eval_round: Callable[[], Any] = contextlib.nullcontext) -> RunResult:
    """Runs (or resumes) training in `workdir`.

    `eval_round()` is a context entered around each round of evaluators (the evaluation
    library's `embed.shared_images`: jobs on one split embed its images once).

    `data_fn(global_batch_size, shard_index, shard_count, seed)` returns a checkpointable Grain
    iterator of numpy batches {"image": (b, H, W, 3) float32, "text": (b, L) int32}, this
    process's share of each global batch.
    """
    validate_train_config(cfg)
    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    evaluators = evaluators or {}

    # Mesh.
    mesh = sharding.make_mesh(sharding.MeshConfig(**cfg.mesh))
    log.info("mesh %s over %d devices (%s)", dict(mesh.shape), mesh.size, jax.devices()[0].device_kind)

    # Data: each process reads its own share of the global batch.
    data_iter = data_fn(cfg.batch_size, jax.process_index(), jax.process_count(), cfg.seed)

    # Model, optimizer, shardings and the jitted step.
    model_cfg = model_config(cfg)
    t = trainer.build(model_cfg, cfg.optim, mesh, cfg.total_steps, step_config(cfg))
    graphdef, shardings = t.graphdef, t.shardings

    # Restore, or initialise.
    ckpt = checkpointing.Checkpointer(
        workdir / "checkpoints", keep=cfg.checkpoint.keep, best_metric=cfg.checkpoint.get("best_metric") or None,
        best_mode=cfg.checkpoint.get("best_mode", "max"), async_save=cfg.checkpoint.get("async_save", True))
    state_shapes = jax.eval_shape(lambda: t.init_state(cfg.seed))
    restored = ckpt.restore_latest(state_lib.abstract_state(shardings, state_shapes), data_iter)
    if restored is not None:
        start_step, state = restored
        console.say("resumed from step %d in %s", start_step, workdir / "checkpoints")
    else:
        start_step = 0
        state = t.init_state(cfg.seed, initial_params(cfg, model_cfg))
    (workdir / "config.json").write_text(cfg.to_json_best_effort(indent=2) + "\n")

    writer = metrics.MetricWriter(workdir, cfg.total_steps, tensorboard=cfg.get("tensorboard", True))
    progress = console.Progress(cfg.total_steps, start_step, cfg.log_every, enabled=jax.process_index() == 0)
    watch = checkpointing.PreemptionWatch(ckpt)
    peak = metrics.peak_flops_per_device(cfg.get("peak_flops") or None)
    # Model FLOPs per device and step, from the config: XLA's count misses scanned blocks.
    flops = flops_lib.train_step_flops(model_cfg, cfg.batch_size, step_config(cfg).captions_per_image) / mesh.size

    def evaluate(step: int) -> dict[str, float]:
        if not evaluators:
            return {}
        model = nnx.merge(graphdef, state["params"])
        results, start = {}, time.time()
        with eval_round():
            for name, evaluator in evaluators.items():
                t0 = time.time()
                results.update({k: float(v) for k, v in evaluator.run(model)})
                log.info("eval %s took %.1fs", name, time.time() - t0)
        writer.write(step, results, prefix="eval")
        progress.evaluation(step, results, time.time() - start)
        return results

    step, stopped_by, last, eval_results = start_step, "completed", {}, {}
    compiled = None
    pending, bad_step = None, None  # previous step's metrics: read one step late, the host never stalls the device
    window_start, window_steps = time.time(), 0
    try:
        while step < cfg.total_steps:
            batch = sharding.global_batch(next(data_iter), mesh)
            if compiled is None:
                t0 = time.time()
                compiled = t.train_step.lower(state, batch).compile()
                log.info("compiled the train step in %.1fs (%.4g model FLOPs per device)", time.time() - t0, flops)
            state, step_metrics = compiled(state, batch)
            if pending is not None and not bool(pending["ok"]):
                stopped_by, bad_step = "non-finite loss", step
                break
            pending = step_metrics
            step += 1
            window_steps += 1
            last_step = step == cfg.total_steps
            if step % cfg.log_every == 0 or last_step:
                host = {k: float(v) for k, v in jax.device_get(step_metrics).items()}
                if not host.pop("ok"):
                    stopped_by, bad_step = "non-finite loss", step
                    break
                elapsed = time.time() - window_start
                host["images_per_second"] = cfg.batch_size * window_steps / elapsed
                if peak:
                    host["mfu"] = metrics.mfu(flops, elapsed / window_steps, peak)
                writer.write(step, host)
                progress.update(step, host)
                last, window_start, window_steps = host, time.time(), 0
            if cfg.eval_every and (step % cfg.eval_every == 0 or last_step):
                eval_results = evaluate(step)
            if step % cfg.checkpoint.every == 0 or last_step:
                ckpt.save(step, state, data_iter, metrics=eval_results or None)
            if watch.should_stop(step):
                stopped_by = "preempted"
                if step % cfg.checkpoint.every and not last_step:
                    ckpt.save(step, state, data_iter)
                break
        if stopped_by == "non-finite loss":
            # Steps with a non-finite loss or gradient are never applied: `state` holds only good updates.
            good_step = int(jax.device_get(state["step"]))
            if good_step not in ckpt.all_steps():
                ckpt.save(good_step, state, data_iter)
            ckpt.wait()
            raise NonFiniteLoss(
                f"loss or gradient became NaN/inf at step {bad_step}; the last good state (step {good_step}) "
                f"is saved in {workdir / 'checkpoints'}. Lower optim.lr, check the input data, or use float32.")
    finally:
        progress.close()
        ckpt.wait()
        watch.close()
        writer.close()
    ckpt.close()
    if stopped_by == "completed":
        from sarclip_jax import model_dir

        tokenizer = cfg.data.tokenizer if "data" in cfg and str(cfg.data.tokenizer).endswith(".model") else None
        model_dir.save_model(nnx.merge(graphdef, state["params"]), workdir / model_dir.EXPORT_SUBDIR,
                               overwrite=True, tokenizer=tokenizer)
    summary = {"final_step": step, "stopped_by": stopped_by, "train": last, "eval": eval_results}
    if jax.process_index() == 0:
        (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return RunResult(step, stopped_by, last, eval_results)
