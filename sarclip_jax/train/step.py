"""The training step: one jitted function over the mesh, with the train state donated.

The state is a plain dict {"params", "opt_state", "step", "rng"} whose leaves all carry an
explicit NamedSharding. Gradients are taken in two stages, features first:

    features = encode(params, batch)                 (kept for the backward pass)
    loss, d_features, d_temperature = grad(fused_loss)(features)
    d_params = vjp(encode)(d_features)

With `accum_steps > 1` the batch is encoded in micro-batches without keeping activations, the
loss sees all features at once (so every example still meets the whole global batch as
negatives, unlike naive accumulation), and each micro-batch is re-encoded for its share of the
gradient (OpenCLIP's --accum-freq, or GradCache). Memory then scales with the micro-batch.

With `positives="text"` the batch carries `caption_ids` ((B, 2) int32 halves of a 64-bit hash of
the normalised caption, `text.caption_ids.caption_id_pair`) and every caption equal to an image's
own is a positive for it (`losses.reference.clip_loss` gives the form). With `label_weight > 0`
the batch also carries `label_ids` (the same kind of id, of each record's class label) and the
loss adds label_weight times the same loss with every same-label pair positive (UniCL's
image-label term), so a class word is pulled towards every image of that class.

With `captions_per_image = K > 1` the batch's text is (B, K, L): each image is encoded once, its
K captions all, and the loss sees each image's row K times against the B*K captions, with the
pairs of one image positive (the mean form gives each image the mean of -log p over its K
captions; for a caption, K equal copies of each image leave its softmax over images unchanged,
shifted by log K). So every step teaches K captions per image for one image forward.

A step whose loss or gradient is not finite leaves the state untouched and reports `ok=False`;
the loop stops on it with the last good state still in hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

from sarclip_jax import sharding
from sarclip_jax.losses import fused_clip_loss, fused_siglip_loss, logit_scale_value
from sarclip_jax.sharding import BATCH_AXES

LOSSES = ("clip", "siglip")
POSITIVES = ("pair", "text")


@dataclasses.dataclass(frozen=True)
class StepConfig:
    loss: str = "clip"
    block_size: int = 0  # the ring's tile; 0: chosen from the per-device batch and memory_mib
    accum_steps: int = 1
    positives: str = "pair"  # "pair": an image's own caption only; "text": every equal caption
    memory_mib: float = 64.0  # the loss's temporaries per device when it chooses its tile
    label_weight: float = 0.0  # > 0: + label_weight x the loss with same-label pairs positive
    captions_per_image: int = 1  # the batch's captions per image (data.captions_per_image)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss.kind={self.loss!r} is not one of {list(LOSSES)}")
        if self.positives not in POSITIVES:
            raise ValueError(f"loss.positives={self.positives!r} is not one of {list(POSITIVES)}")
        if self.accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {self.accum_steps}")
        if not self.label_weight >= 0:
            raise ValueError(f"loss.label_weight must be >= 0, got {self.label_weight}")
        if self.captions_per_image < 1:
            raise ValueError(f"data.captions_per_image must be >= 1, got {self.captions_per_image}")
        if self.captions_per_image > 1 and self.positives == "text":
            # One id per caption cannot say "same image or same text"; the pairs of one image are
            # already each other's positives.
            raise ValueError("loss.positives='text' with data.captions_per_image > 1 is not supported; "
                             "use loss.positives='pair' (each image's K captions are its positives)")

    @property
    def batch_ids(self) -> tuple[str, ...]:
        """The id fields the step's batches carry besides image and text."""
        return (("caption_ids",) if self.positives == "text" else ()) + (("label_ids",) if self.label_weight else ())


def make_encode(graphdef: nnx.GraphDef, mesh: Mesh | None = None) -> Callable:
    def encode_both(model, images, ids):
        if ids.ndim == 2:
            return model.encode_image(images, normalize=True), model.encode_text(ids, normalize=True)
        texts = model.encode_text(ids.reshape(-1, ids.shape[-1]), normalize=True)  # (B, K, L): K per image
        return model.encode_image(images, normalize=True), texts.reshape(*ids.shape[:2], -1)

    def encode(params, images, ids):
        model = nnx.merge(graphdef, params)
        if mesh is None:
            return encode_both(model, images, ids)
        # The towers pin their activations to the batch split (sharding.constrain).
        with sharding.activation_mesh(mesh):
            return encode_both(model, images, ids)

    return encode


def expand_captions(image_features, text_features, ids: dict):
    """(B, D) images and (B, K, D) captions -> B*K rows of each: image i's row repeated K times
    (its gradient sums theirs), the pairs of one image marked positive by `image_ids`, and the id
    fields, one per image (label ids; text positives are refused with K > 1), repeated to match."""
    b, k = text_features.shape[:2]
    ids = {f: jnp.repeat(v, k, axis=0) for f, v in ids.items()}
    index = jnp.repeat(jnp.arange(b, dtype=jnp.int32), k)
    ids["image_ids"] = jnp.stack([index, jnp.zeros_like(index)], axis=-1)
    return jnp.repeat(image_features, k, axis=0), text_features.reshape(b * k, -1), ids


def make_loss_on_features(cfg: StepConfig, mesh: Mesh | None) -> Callable:
    def one_loss(image_features, text_features, params, keys):
        kw = dict(mesh=mesh, batch_axes=BATCH_AXES, block_size=cfg.block_size or None,
                  memory_bytes=int(cfg.memory_mib * 2**20), caption_ids=keys)
        if cfg.loss == "siglip":
            return fused_siglip_loss(image_features, text_features, params["logit_scale"], params["logit_bias"], **kw)
        return fused_clip_loss(image_features, text_features, params["logit_scale"], **kw)

    def loss_on_features(image_features, text_features, params, ids):
        pair_ids = None  # each image's own caption: the diagonal
        if text_features.ndim == 3:  # K captions per image
            image_features, text_features, ids = expand_captions(image_features, text_features, ids)
            pair_ids = ids["image_ids"]
        loss, metrics = one_loss(image_features, text_features, params,
                                 ids.get("caption_ids") if cfg.positives == "text" else pair_ids)
        if cfg.label_weight:  # the same fused loss again, its positives the label groups
            label_loss, _ = one_loss(image_features, text_features, params, ids["label_ids"])
            metrics = dict(metrics, caption_loss=loss, label_loss=label_loss)
            loss = loss + cfg.label_weight * label_loss
        return loss, metrics

    return loss_on_features


def _to_micro(x, k: int):
    # Micro-batch m takes rows m, m+k, m+2k, ...: every micro-batch spans every device's shard.
    return x.reshape(x.shape[0] // k, k, *x.shape[1:]).swapaxes(0, 1)


def _from_micro(x):
    return x.swapaxes(0, 1).reshape(-1, *x.shape[2:])


def loss_and_grads(encode, loss_on_features, params, images, ids, accum_steps: int, keys=None):
    """((loss, metrics), grads) for one global batch (`keys`: the batch's id fields, in its row order)."""
    if accum_steps == 1:
        (img, txt), encode_vjp = jax.vjp(lambda p: encode(p, images, ids), params)
    else:
        if images.shape[0] % accum_steps:
            raise ValueError(f"batch {images.shape[0]} is not divisible by accum_steps={accum_steps}")
        micro = (_to_micro(images, accum_steps), _to_micro(ids, accum_steps))
        frozen = jax.lax.stop_gradient(params)
        feats = jax.lax.map(lambda mb: encode(frozen, *mb), micro)
        img, txt = _from_micro(feats[0]), _from_micro(feats[1])
    (loss, metrics), (d_img, d_txt, d_params) = jax.value_and_grad(
        loss_on_features, argnums=(0, 1, 2), has_aux=True)(img, txt, params, keys or {})
    if accum_steps == 1:
        (d_encoder,) = encode_vjp((d_img, d_txt))
    else:
        d_micro = (_to_micro(d_img, accum_steps), _to_micro(d_txt, accum_steps))

        def add_micro_grads(acc, xs):
            mb_images, mb_ids, mb_d_img, mb_d_txt = xs
            _, vjp = jax.vjp(lambda p: encode(p, mb_images, mb_ids), params)
            return jax.tree.map(jnp.add, acc, vjp((mb_d_img, mb_d_txt))[0]), None

        zeros = jax.tree.map(jnp.zeros_like, params)
        d_encoder, _ = jax.lax.scan(add_micro_grads, zeros, (*micro, *d_micro))
    return (loss, metrics), jax.tree.map(jnp.add, d_encoder, d_params)


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, schedule: optax.Schedule,
                    cfg: StepConfig, mesh: Mesh | None, state_shardings: Any, batch_shardings: Any,
                    metric_sharding: Any) -> Callable:
    """A jitted (state, batch) -> (state, metrics); the input state's buffers are donated."""
    encode = make_encode(graphdef, mesh)
    loss_on_features = make_loss_on_features(cfg, mesh)

    def train_step(state, batch):
        params = state["params"]
        for field in cfg.batch_ids:
            if field not in batch:
                why = "loss.positives='text'" if field == "caption_ids" else "loss.label_weight > 0"
                raise ValueError(f"{why} needs batches with {field!r} (text.caption_ids.caption_id_pair)")
        k = batch["text"].shape[1] if batch["text"].ndim == 3 else 1
        if k != cfg.captions_per_image:
            raise ValueError(f"the batch has {k} captions per image; the step was built for "
                             f"data.captions_per_image={cfg.captions_per_image}")
        (loss, metrics), grads = loss_and_grads(encode, loss_on_features, params, batch["image"], batch["text"],
                                                cfg.accum_steps, {f: batch[f] for f in cfg.batch_ids})
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, state["opt_state"], params)
        new = {"params": optax.apply_updates(params, updates), "opt_state": opt_state,
               "step": state["step"] + 1, "rng": jax.random.fold_in(state["rng"], state["step"])}
        ok = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        new = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state)
        metrics = dict(metrics, loss=loss, grad_norm=grad_norm, ok=ok,
                       learning_rate=schedule(state["step"]),
                       logit_scale=logit_scale_value(params["logit_scale"]))
        return new, metrics

    return jax.jit(train_step, in_shardings=(state_shardings, batch_shardings),
                   out_shardings=(state_shardings, metric_sharding), donate_argnums=0)
