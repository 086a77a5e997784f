"""Where training numbers go: a JSONL file and TensorBoard event files (the terminal's share is
`sarclip_jax.train.console`).

Only process 0 writes. TensorBoard events come from tensorboardX, which needs no TensorFlow.
Model FLOPs utilisation is the step's model FLOPs, counted from the config
(`sarclip_jax.models.flops`; XLA's cost analysis counts a scanned block once), per device, over
the step time and the device's peak.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jax
from etils import epath

# Dense bf16 peak FLOP/s per device, by `device_kind`. Config `peak_flops` overrides.
PEAK_FLOPS = {
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,  # how libtpu names a v5p chip
    "TPU v6 lite": 918e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA H100 80GB HBM3": 989e12,
    "NVIDIA H200": 989e12,
}


def peak_flops_per_device(override: float | None = None) -> float | None:
    if override:
        return float(override)
    return PEAK_FLOPS.get(jax.devices()[0].device_kind)


def mfu(flops_per_device: float, seconds_per_step: float, peak: float) -> float:
    """Model FLOPs utilisation of a step taking `seconds_per_step`."""
    return flops_per_device / seconds_per_step / peak


class MetricWriter:
    def __init__(self, workdir: str | epath.PathLike, total_steps: int, *, tensorboard: bool = True):
        self.enabled = jax.process_index() == 0
        self.total_steps = total_steps
        self._tb = None
        self._jsonl = None
        if not self.enabled:
            return
        workdir = epath.Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._jsonl = (workdir / "metrics.jsonl").open("a")
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(workdir / "tensorboard"))

    def write(self, step: int, metrics: Mapping[str, float], prefix: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{f"{prefix}/{k}": float(v) for k, v in metrics.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in metrics.items():  # TensorBoard tags allow no '@' (retrieval's r@K)
                self._tb.add_scalar(f"{prefix}/{k}".replace("@", "_at_"), float(v), int(step))
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._jsonl is not None:
            self._jsonl.close()
