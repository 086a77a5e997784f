"""Load a checkpoint and encode SAR images and texts: the few calls a notebook needs.

    import sarclip_jax
    model, preprocess, tokenizer = sarclip_jax.load("runs/default")   # a model directory (or WORKDIR)
    # model, preprocess, tokenizer = sarclip_jax.load("sarclip_vit_l_14.safetensors", model_name="ViT-L-14")
    probs = sarclip_jax.zero_shot(model, ["s1_vv.tif", "HB03333.015", "ship.png"], ["ship", "tank"], tokenizer)
    emb = sarclip_jax.encode_image(model, [sigma0_array], scale="intensity")  # a float array: say its scale
    text = sarclip_jax.encode_text(model, ["two ships in the upper left"], tokenizer)

Images can be given as
  - paths (local or gs://): GeoTIFFs (float32 pixels are `float_scale`, default "amplitude" as
    in the evaluators; complex pixels are SLC; 16-bit ones display products; 2 bands are VV, VH),
    raw MSTAR chips (Phoenix header + magnitude/phase, read as amplitude), PNG/JPEG;
  - PIL images, and uint8 / uint16 numpy or jax arrays (H, W[, C]): display products;
  - float or complex arrays (H, W[, bands]) with `scale=` "amplitude", "intensity", "db" or
    "complex" ("display" for a [0, 1] picture): the numbers alone cannot say which they are;
  - a preprocessed float batch (n, size, size, 3), used as it is.
Each image is prepared exactly as the evaluators' "sar" image pipeline prepares a test image
(`records.file_record` / `records.array_record`, then `sar_transforms.image_for_model`), so an
embedding here is the embedding an evaluation scores; 8-bit pictures get CLIP's own preprocessing.

Texts are tokenized with the model's own tokenizer (`text.tokenizer.tokenizer_for`: the model
directory's sentencepiece model, else CLIP's BPE); token ids the text tower cannot embed are an
error naming the model, never NaN embeddings. Inputs are batched to a fixed size (the last
batch padded) so each shape compiles once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import numpy as np
import PIL.Image
from etils import epath

from sarclip_jax import model_dir
from sarclip_jax.data import records, sar_radiometry, sar_transforms
from sarclip_jax.models import encode
from sarclip_jax.models.clip import CLIP
from sarclip_jax.text.tokenizer import Tokenizer, check_token_ids, model_name, tokenizer_for
from sarclip_jax.zero_shot_classifier import build_classifier, zero_shot_logits

ImageInput = Any  # a path, a PIL image, or an (H, W[, C]) numpy / jax array
DEFAULT_RADIOMETRY = sar_radiometry.Radiometry()  # the evaluators' default: the fixed dB window
ARRAY_SCALES = sar_radiometry.SCALES  # what `scale=` may say about an array's pixels


def load(path: str | epath.PathLike, model_name: str | None = None, *, dtype: str = "float32",
         tokenizer: str | Tokenizer | None = None, float_scale: str = "amplitude"
         ) -> tuple[CLIP, Preprocess, Tokenizer]:
    """(model, preprocess, tokenizer) from a model directory or an OpenCLIP/SARCLIP weight file.

    `model_name` names the architecture of a weight file (e.g. "ViT-B-32"); a model directory
    records its own. `dtype` is the compute dtype ("bfloat16" halves activation memory on
    accelerators; parameters stay float32). `tokenizer` defaults to the model's own: a model
    directory's sentencepiece model if it has one, else CLIP's BPE ("clip"); one with more ids
    than the text tower embeds is refused. `preprocess(image)` prepares one image the way
    encode_image does (`float_scale` for float TIFF files; `preprocess(array, scale=...)`).
    """
    if model_dir.is_model_dir(path):
        model = model_dir.load_model(path, dtype=dtype)
    else:
        from sarclip_jax.convert import load_pytorch_weights
        from sarclip_jax.models.config import MODEL_CONFIGS

        if model_name is None:
            raise ValueError(f"{path}: a weight file needs model_name=, one of {sorted(MODEL_CONFIGS)}")
        model = load_pytorch_weights(path, model_name, dtype=dtype)
        model.source = str(path)
    preprocess = Preprocess(model.config.vision.image_size, float_scale=float_scale)
    return model, preprocess, tokenizer_for(model, tokenizer)


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """`preprocess(image)` -> float32 (size, size, 3), CLIP-normalised: one image as
    encode_image prepares it. `float_scale` is what float TIFF pixels are; `scale` what a float
    array's pixels are (also per call: `preprocess(array, scale="db")`)."""

    image_size: int
    float_scale: str = "amplitude"
    scale: str | None = None
    radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY

    def __post_init__(self):
        if self.float_scale not in records.FLOAT_SCALES:
            raise ValueError(f"float_scale must be one of {records.FLOAT_SCALES}, got {self.float_scale!r}")
        if self.scale is not None and self.scale not in ARRAY_SCALES:
            raise ValueError(f"scale must be one of {ARRAY_SCALES}, got {self.scale!r}")

    def __call__(self, image: ImageInput, *, scale: str | None = None) -> np.ndarray:
        record = image_record(image, scale or self.scale, self.float_scale)
        return sar_transforms.image_for_model(record, self.image_size, self.radiometry)

    def batch(self, images: Iterable[ImageInput]) -> np.ndarray:
        out = [self(image) for image in images]
        return np.stack(out) if out else np.zeros((0, self.image_size, self.image_size, 3), np.float32)


def image_record(image: ImageInput, scale: str | None = None, float_scale: str = "amplitude") -> dict:
    """The stored-record form of one image input (see the module docstring for what it may be)."""
    if isinstance(image, (str, os.PathLike)):
        return records.file_record(image, float_scale, key=os.fspath(image))
    if isinstance(image, PIL.Image.Image):
        pixels, what = _pil_pixels(image), f"PIL image ({image.mode})"
    elif isinstance(image, (np.ndarray, jax.Array)):
        pixels, what = np.asarray(image), "array"
    else:
        raise TypeError(f"an image is a path, a PIL image or a numpy/jax array, not {type(image).__name__}")
    if pixels.ndim not in (2, 3):
        raise ValueError(f"an image {what} is (H, W) or (H, W, bands), got shape {pixels.shape}")
    kind = pixels.dtype.kind
    if kind == "b" or (kind in "iu" and pixels.dtype not in (np.uint8, np.uint16)):
        raise ValueError(f"an integer image {what} must be uint8 or uint16 (a display product), got "
                         f"{pixels.dtype}; give physical values as a float array with scale=")
    if kind in "iu":
        if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[-1] == 4:
            pixels = pixels[..., :3]  # alpha dropped, as the file readers drop it
        return records.array_record(pixels, scale or "display", key=what)
    if kind == "c":
        return records.array_record(pixels.astype(np.complex64), scale or "complex", key=what)
    if kind != "f":
        raise ValueError(f"an image {what} of dtype {pixels.dtype} is not an image")
    if scale is None:
        raise ValueError(f"a float image {what} needs its scale: pass scale= one of "
                         f"{tuple(s for s in ARRAY_SCALES if s != 'complex')} ('amplitude' for |z|, 'intensity' "
                         f"for power such as sigma0, 'db' for 10 log10 of power, 'display' for a [0, 1] picture)")
    return records.array_record(pixels.astype(np.float32), scale, key=what)


def _pil_pixels(image: PIL.Image.Image) -> np.ndarray:
    if image.mode in ("L", "RGB"):
        return np.asarray(image)
    if image.mode in ("1", "LA", "La"):
        return np.asarray(image.convert("L"))
    if image.mode.startswith("I;16"):
        return np.asarray(image, dtype=np.uint16)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode == "I":
        return np.asarray(image, dtype=np.int32)  # refused with a clear error: state what it holds
    return np.asarray(image.convert("RGB"))  # palette, alpha, CMYK...


def _is_preprocessed(images, size: int, scale: str | None) -> bool:
    if not isinstance(images, (np.ndarray, jax.Array)) or images.ndim != 4 or scale is not None:
        return False
    if np.dtype(images.dtype).kind != "f":
        return False
    if tuple(images.shape[1:]) != (size, size, 3):
        raise ValueError(f"a float (n, H, W, C) array is taken as a preprocessed batch (n, {size}, {size}, 3), got "
                         f"shape {tuple(images.shape)}; for a stack of raw float images pass their scale=")
    return True


def _as_list(images) -> list:
    if isinstance(images, (str, os.PathLike, PIL.Image.Image)):
        return [images]
    if isinstance(images, (np.ndarray, jax.Array)) and images.ndim in (2, 3):
        return [images]  # one image
    return list(images)


def _describe(image, index: int) -> str:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    shape = getattr(image, "shape", None) or getattr(image, "size", "")
    return f"image {index} ({type(image).__name__} {shape})"


def encode_image(model: CLIP, images: Sequence[ImageInput] | ImageInput, *, batch_size: int = 32,
                 scale: str | None = None, float_scale: str = "amplitude",
                 radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY,
                 preprocess: Callable[[ImageInput], np.ndarray] | None = None) -> np.ndarray:
    """L2-normalised (n, embed_dim) float32 embeddings of images (see the module docstring).

    `scale` says what float arrays hold, `float_scale` what float TIFF files hold; `radiometry`
    maps physical values to [0, 1] (default the evaluators' fixed dB window). `preprocess`
    replaces the preparation of each image.
    """
    size = model.config.vision.image_size
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if _is_preprocessed(images, size, scale):
        return encode.batched(lambda x: encode.image_features(model, x), np.asarray(images, np.float32), batch_size)
    prepare = preprocess or Preprocess(size, float_scale=float_scale, scale=scale, radiometry=radiometry)
    items = _as_list(images)
    if not items:
        return np.zeros((0, model.config.embed_dim), np.float32)
    rows = min(batch_size, len(items))  # every batch padded to this, so one shape compiles
    out = []
    for start in range(0, len(items), rows):
        chunk = items[start:start + rows]
        x = np.zeros((rows, size, size, 3), np.float32)
        for j, image in enumerate(chunk):
            x[j] = _prepared(prepare, image, start + j, size)
        x[len(chunk):] = x[0]
        out.append(np.asarray(encode.image_features(model, x))[:len(chunk)])
    return np.concatenate(out)


def _prepared(prepare, image, index: int, size: int) -> np.ndarray:
    name = _describe(image, index)
    try:
        x = np.asarray(prepare(image), np.float32)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{name}: no such file") from e
    except (ValueError, TypeError, OSError) as e:  # readers and codecs: say which image it was
        if name in str(e):
            raise
        raise (TypeError if isinstance(e, TypeError) else ValueError)(f"{name}: {e}") from e
    if x.shape != (size, size, 3):
        raise ValueError(f"{name}: prepared to shape {x.shape}, expected ({size}, {size}, 3)")
    return x


def encode_text(model: CLIP, texts: Sequence[str] | str | np.ndarray, tokenizer: str | Tokenizer | None = None,
                *, batch_size: int = 256) -> np.ndarray:
    """L2-normalised (n, embed_dim) embeddings of strings (tokenized with `tokenizer`, default the
    model's own) or of token ids (n, <= context_length), which must be ids the text tower embeds."""
    if isinstance(texts, (np.ndarray, jax.Array)) and np.dtype(texts.dtype).kind in "iu":
        ids = np.asarray(texts)
        if ids.ndim != 2:
            raise ValueError(f"token ids must be (n, context_length), got shape {ids.shape}")
        check_token_ids(ids, model.config.text.vocab_size, model_name(model))
    else:
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids = np.asarray(tokenizer_for(model, tokenizer)(texts))
        check_token_ids(ids, model.config.text.vocab_size, model_name(model))
    return encode.batched(lambda x: encode.text_features(model, x), ids.astype(np.int32), batch_size)


def zero_shot(model: CLIP, images: Sequence[ImageInput] | ImageInput, class_names: Sequence[str],
              tokenizer: str | Tokenizer | None = None, *, templates: str | Sequence[str] = "sar",
              batch_size: int = 32, scale: str | None = None, float_scale: str = "amplitude",
              radiometry: sar_radiometry.Radiometry = DEFAULT_RADIOMETRY,
              preprocess: Callable[[ImageInput], np.ndarray] | None = None) -> np.ndarray:
    """(n_images, n_classes) class probabilities: softmax of 100 x cosine similarity against the
    SARCLIP prompt-ensemble classifier. Images and keywords as in encode_image."""
    tok = tokenizer_for(model, tokenizer)
    classifier = build_classifier(lambda prompts: encode_text(model, prompts, tok), class_names, templates)
    emb = encode_image(model, images, batch_size=batch_size, scale=scale, float_scale=float_scale,
                       radiometry=radiometry, preprocess=preprocess)
    logits = zero_shot_logits(emb, classifier)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)
