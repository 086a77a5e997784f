"""Reading and writing PyTorch-world weight files without executing anything in them.

`.safetensors` is read with safetensors' numpy backend (no torch needed). `.pt`/`.pth`/`.bin`
files go through `torch.load(..., weights_only=True)`, which refuses pickles that would run code;
torch is then needed, and only then imported.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping

import numpy as np
from etils import epath

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def read_state_dict(path: str | epath.PathLike) -> dict[str, np.ndarray]:
    """A flat {key: numpy array} from a weight file, unwrapped from training-checkpoint layers."""
    path = epath.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        sd = _read_safetensors(path)
    elif path.suffix in TORCH_SUFFIXES:
        sd = _read_torch(path)
    else:
        raise ValueError(
            f"{path}: unknown weight file type {path.suffix!r}; expected .safetensors or one of {TORCH_SUFFIXES}")
    return _unwrap(sd, path)


def write_safetensors(state_dict: Mapping[str, np.ndarray], path: str | epath.PathLike,
                      metadata: Mapping[str, str] | None = None) -> None:
    from safetensors.numpy import save

    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v) for k, v in state_dict.items()}
    path.write_bytes(save(tensors, metadata=dict(metadata or {})))


def _read_safetensors(path: epath.Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return dict(load(path.read_bytes()))
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e


def _read_torch(path: epath.Path) -> dict:
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{path}: reading PyTorch {path.suffix} files needs torch (CPU build is enough: "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu), "
            "or convert the file to .safetensors first") from None
    with path.open("rb") as f:
        if zipfile.is_zipfile(f) and _is_torchscript(f):
            raise ValueError(
                f"{path}: is a TorchScript archive (like OpenAI's original CLIP .pt files). It holds code, "
                "so it is not loaded here; use the same weights as a state dict or .safetensors "
                "(e.g. OpenCLIP's hf-hub copies of the OpenAI models)")
    try:
        with path.open("rb") as f:
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path}: refused: the file's pickle needs code beyond plain tensors and containers to load "
            f"(torch.load with weights_only=True said: {str(e).splitlines()[0]}). Only load files you trust "
            "with other tools; this library does not execute pickled code") from e
    except (RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: not a readable PyTorch file ({e})") from e
    return _to_numpy(obj, path)


def _is_torchscript(f) -> bool:
    f.seek(0)
    with zipfile.ZipFile(f) as z:
        return any(name.endswith("/constants.pkl") or name.endswith("/code/__torch__.py") for name in z.namelist())


def _to_numpy(obj, path: epath.Path):
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            t = t.float()
        return t.numpy()
    if isinstance(obj, Mapping):
        return {k: _to_numpy(v, path) for k, v in obj.items()}
    return obj


def _unwrap(sd, path: epath.Path) -> dict[str, np.ndarray]:
    """Finds the weights inside a training checkpoint and drops DataParallel's `module.` prefix."""
    if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping) or not sd:
        raise ValueError(f"{path}: holds no state dict (found {type(sd).__name__})")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    not_arrays = sorted(k for k, v in sd.items() if not isinstance(v, np.ndarray))
    if not_arrays:
        raise ValueError(f"{path}: entries that are not tensors: {not_arrays[:10]}")
    return dict(sd)
