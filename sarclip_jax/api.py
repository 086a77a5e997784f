"""Load a checkpoint and encode images and texts: the few calls a notebook needs.

    import sarclip_jax
    model, preprocess, tokenizer = sarclip_jax.load("sarclip_vit_l_14.safetensors", model_name="ViT-L-14")
    probs = sarclip_jax.zero_shot(model, ["chip.png"], ["ship", "oil tank", "bridge"], tokenizer)

Inputs are batched to a fixed size (the last batch padded) so each shape compiles once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from etils import epath

from sarclip_jax import model_dir
from sarclip_jax.models import encode
from sarclip_jax.models.clip import CLIP
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits

ImageInput = Any  # a path, a PIL image, or an (H, W[, C]) uint8 array


def load(path: str | epath.PathLike, model_name: str | None = None, *, dtype: str = "float32",
         tokenizer: str | None = None) -> tuple[CLIP, Callable[[ImageInput], np.ndarray], Callable[..., np.ndarray]]:
    """(model, preprocess, tokenizer) from a model directory or an OpenCLIP/SARCLIP weight file.

    `model_name` names the architecture of a weight file (e.g. "ViT-B-32"); a model directory
    records its own. `dtype` is the compute dtype ("bfloat16" halves activation memory on
    accelerators; parameters stay float32). `tokenizer` defaults to the model directory's own
    sentencepiece model if it has one, else CLIP's BPE ("clip").
    """
    from sarclip_jax.data.preprocess import ClipPreprocess
    from sarclip_jax.text.tokenizer import build_tokenizer

    if model_dir.is_model_dir(path):
        model = model_dir.load_model(path, dtype=dtype)
        tokenizer = tokenizer or model_dir.tokenizer_spec(path)
    else:
        from sarclip_jax.convert import load_pytorch_weights
        from sarclip_jax.models.config import MODEL_CONFIGS

        if model_name is None:
            raise ValueError(f"{path}: a weight file needs model_name=, one of {sorted(MODEL_CONFIGS)}")
        model = load_pytorch_weights(path, model_name, dtype=dtype)
    preprocess = ClipPreprocess(image_size=model.config.vision.image_size)
    tokenizer = tokenizer or "clip"
    tok = build_tokenizer(tokenizer, context_length=model.config.text.context_length)
    if tok.vocab_size > model.config.text.vocab_size:
        raise ValueError(f"tokenizer {tokenizer!r} has {tok.vocab_size} ids but the model's text tower embeds only "
                         f"{model.config.text.vocab_size}; use the tokenizer the model was trained with")
    return model, preprocess, tok


def encode_image(model: CLIP, images: Sequence[ImageInput] | np.ndarray, *, batch_size: int = 32,
                 preprocess: Callable[[ImageInput], np.ndarray] | None = None) -> np.ndarray:
    """L2-normalised (n, embed_dim) embeddings.

    `images` is either a preprocessed float batch (n, size, size, 3) or a sequence of paths,
    PIL images or uint8 arrays, which go through CLIP preprocessing first.
    """
    size = model.config.vision.image_size
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.dtype.kind == "f":
        batch = images
    else:
        if preprocess is None:
            from sarclip_jax.data.preprocess import ClipPreprocess

            preprocess = ClipPreprocess(image_size=size)
        batch = np.stack([preprocess(image) for image in images]) if len(images) else np.zeros((0, size, size, 3))
    return encode.batched(lambda x: encode.image_features(model, x), batch.astype(np.float32), batch_size)


def encode_text(model: CLIP, texts: Sequence[str] | np.ndarray, tokenizer: Callable[..., np.ndarray] | None = None,
                *, batch_size: int = 256) -> np.ndarray:
    """L2-normalised (n, embed_dim) embeddings of strings (tokenised first) or of token ids."""
    if isinstance(texts, np.ndarray) and texts.dtype.kind in "iu":
        ids = texts
    else:
        if tokenizer is None:
            raise ValueError("encode_text needs a tokenizer for strings (the third value sarclip_jax.load returns)")
        ids = np.asarray(tokenizer(list(texts)))
    return encode.batched(lambda x: encode.text_features(model, x), ids.astype(np.int32), batch_size)


def zero_shot(model: CLIP, images: Sequence[ImageInput] | np.ndarray, class_names: Sequence[str],
              tokenizer: Callable[..., np.ndarray], *, templates: str | Sequence[str] = "sar",
              batch_size: int = 32) -> np.ndarray:
    """(n_images, n_classes) class probabilities: softmax of 100 x cosine similarity."""
    classifier = build_classifier(lambda prompts: encode_text(model, prompts, tokenizer), class_names, templates)
    logits = zero_shot_logits(encode_image(model, images, batch_size=batch_size), classifier)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)
