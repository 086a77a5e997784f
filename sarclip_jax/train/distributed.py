"""Multi-process start-up: `jax.distributed.initialize` when the environment or config asks.

- Cloud TPU pods, SLURM and other clusters JAX recognises: `mode="auto"` initialises with no
  arguments when the environment shows more than one process.
- GPUs by hand (or CPU processes on one machine): give `coordinator_address`, `num_processes`
  and `process_id` (config fields or the JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
  JAX_PROCESS_ID environment variables).

    config.distributed = dict(mode="auto", coordinator_address="", num_processes=0, process_id=-1)
"""

from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger(__name__)



def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def initialize(dist_cfg) -> bool:
    """Initialises jax.distributed if needed; returns whether this is a multi-process run."""
    mode = dist_cfg.get("mode", "auto")
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"distributed.mode={mode!r} is not one of ['auto', 'on', 'off']")
    if mode == "off":
        return False
    address = dist_cfg.get("coordinator_address") or os.environ.get("JAX_COORDINATOR_ADDRESS", "")
    num = dist_cfg.get("num_processes") or _env_int("JAX_NUM_PROCESSES", 0)
    pid = dist_cfg.get("process_id", -1)
    pid = pid if pid >= 0 else _env_int("JAX_PROCESS_ID", -1)
    explicit = bool(address)
    slurm = _env_int("SLURM_NTASKS", 1) > 1
    tpu_pod = "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")  # one entry per TPU VM of the slice
    if mode == "auto" and not (explicit or slurm or tpu_pod):
        return False
    if explicit:
        if num < 1 or pid < 0:
            raise ValueError("distributed: coordinator_address needs num_processes >= 1 and process_id >= 0 "
                             f"(got num_processes={num}, process_id={pid})")
        if jax.config.jax_platforms in ("cpu",) or os.environ.get("JAX_PLATFORMS") == "cpu":
            jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
        jax.distributed.initialize(address, num_processes=num, process_id=pid)
    else:
        jax.distributed.initialize()  # TPU pods and SLURM describe themselves
    log.info("process %d of %d, %d local / %d global devices", jax.process_index(), jax.process_count(),
             jax.local_device_count(), jax.device_count())
    return jax.process_count() > 1
