"""OpenCLIP in PyTorch as the reference implementation: random-weight models and their outputs.

Needs the test extra (torch, open_clip_torch); used by the parity tests and the benchmarks.

The CPU torch wheel and PyPI's torchvision do not load together ("operator torchvision::nms does
not exist"), and open_clip imports torchvision. open_clip never calls the detection operators, so
declaring their two schemas before torchvision is first imported is enough for it to load.
"""

import functools

import numpy as np

from sarclip_jax.models.config import CLIPConfig


@functools.cache
def open_clip():
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        try:
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:  # a torchvision that matches torch already defined it
            pass
    _keep_alive.append(lib)  # the schemas live as long as the Library object
    import open_clip as oc

    return oc


_keep_alive = []


SOT, EOT = 49406, 49407


def openclip_model(name: str, cfg: CLIPConfig, seed: int = 0):
    """An eval-mode OpenCLIP model of `cfg`'s shape; norms and biases are randomised too, so that
    a mix-up of any two of them shows in the outputs."""
    import torch

    oc = open_clip()
    torch.manual_seed(seed)
    if name in oc.list_models():
        model = oc.create_model(name)
    else:
        v, t = cfg.vision, cfg.text
        model = oc.model.CLIP(
            cfg.embed_dim,
            vision_cfg=dict(image_size=v.image_size, patch_size=v.patch_size, width=v.width, layers=v.layers,
                            head_width=v.head_width, mlp_ratio=v.mlp_ratio, pool_type=v.pool_type),
            text_cfg=dict(context_length=t.context_length, vocab_size=t.vocab_size, width=t.width, heads=t.heads,
                          layers=t.layers, mlp_ratio=t.mlp_ratio),
            quick_gelu=cfg.quick_gelu,
            init_logit_bias=cfg.init_logit_bias,
        )
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.ndim <= 1 and "logit" not in pname:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def state_dict_numpy(model) -> dict:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def random_inputs(cfg: CLIPConfig, batch: int, seed: int = 0):
    """(images NHWC float32, token ids int32) with SOT, random words, EOT and zero padding."""
    rng = np.random.default_rng(seed)
    size = cfg.vision.image_size
    images = rng.standard_normal((batch, size, size, 3)).astype(np.float32)
    ids = np.zeros((batch, cfg.text.context_length), np.int32)
    for i, length in enumerate(rng.integers(1, cfg.text.context_length - 1, batch)):
        ids[i, 0] = SOT
        ids[i, 1:length + 1] = rng.integers(1, SOT, length)
        ids[i, length + 1] = EOT
    return images, ids


def openclip_outputs(model, images: np.ndarray, ids: np.ndarray) -> dict:
    import torch

    with torch.no_grad():
        image = model.encode_image(torch.from_numpy(images.transpose(0, 3, 1, 2)))
        text = model.encode_text(torch.from_numpy(ids.astype(np.int64)))
        logits = model.logit_scale.exp() * torch.nn.functional.normalize(image, dim=-1) @ \
            torch.nn.functional.normalize(text, dim=-1).T
        if model.logit_bias is not None:
            logits = logits + model.logit_bias
    return {"image": image.numpy(), "text": text.numpy(), "logits": logits.numpy()}
