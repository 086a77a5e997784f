"""Orbax checkpoints of the train state and the Grain iterator, and preemption handling.

Each checkpoint step holds two items: `state` (params, optimizer state, step, RNG; saved
asynchronously, sharded as they are) and `data` (each process's Grain iterator position).
Orbax writes into a temporary directory and renames it when complete, so a run killed mid-save
leaves no half-written checkpoint where the next start would read one. The last `keep` steps are
kept, plus the best one by an eval metric when `best_metric` is set.

Restoring takes the target shardings, so a checkpoint written on one mesh restores onto another
(different device count or mesh shape). If the newest checkpoint cannot be read (corrupted
files), the previous one is used with a warning.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

import jax
from etils import epath

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, directory: str | epath.PathLike, *, keep: int = 3, best_metric: str | None = None,
                 best_mode: str = "max", async_save: bool = True):
        import grain
        import orbax.checkpoint as ocp
        from orbax.checkpoint import checkpoint_managers as cm

        if best_mode not in ("max", "min"):
            raise ValueError(f"checkpoint best_mode must be 'max' or 'min', got {best_mode!r}")
        if keep < 1:
            raise ValueError(f"checkpoint keep must be >= 1, got {keep}")
        policies = [cm.LatestN(n=keep)]
        if best_metric:
            policies.append(cm.BestN(get_metric_fn=lambda metrics: metrics[best_metric], reverse=best_mode == "min",
                                     n=1, keep_checkpoints_without_metrics=False))
        options = ocp.CheckpointManagerOptions(
            preservation_policy=cm.AnyPreservationPolicy(policies),
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,
            create=True,
        )
        self.directory = epath.Path(directory)
        self._ocp = ocp
        self._grain = grain
        self.manager = ocp.CheckpointManager(
            self.directory.resolve(), options=options, item_names=("state", "data"),
            item_handlers={"state": ocp.StandardCheckpointHandler(), "data": grain.checkpoint.CheckpointHandler()})

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, data_iterator: Any, metrics: Mapping[str, float] | None = None) -> bool:
        args = self._ocp.args.Composite(
            state=self._ocp.args.StandardSave(state),
            data=self._grain.checkpoint.CheckpointSave(data_iterator))
        return self.manager.save(step, args=args, metrics=dict(metrics) if metrics else None, force=True)

    def restore(self, step: int, abstract_state: Any, data_iterator: Any) -> Any:
        """The state at `step` placed as `abstract_state`'s shardings; `data_iterator` is rewound in place."""
        args = self._ocp.args.Composite(
            state=self._ocp.args.StandardRestore(abstract_state),
            data=self._grain.checkpoint.CheckpointRestore(data_iterator))
        return self.manager.restore(step, args=args)["state"]

    def restore_latest(self, abstract_state: Any, data_iterator: Any) -> tuple[int, Any] | None:
        """(step, state) from the newest readable checkpoint, or None when there is none.

        A checkpoint that cannot be read is moved to ../corrupt_checkpoints/STEP (kept for
        inspection, out of the way of the run, which will write that step again).
        """
        for step in reversed(self.all_steps()):
            try:
                return step, self.restore(step, abstract_state, data_iterator)
            except Exception as e:  # a corrupted or partial checkpoint: fall back to an older one
                log.warning("checkpoint %s at step %d could not be restored (%s: %s); trying an older one",
                            self.directory, step, type(e).__name__, str(e).splitlines()[0][:300])
                self._set_aside(step)
        return None

    def _set_aside(self, step: int) -> None:
        if jax.process_index() == 0:
            aside = self.directory.parent / "corrupt_checkpoints"
            aside.mkdir(parents=True, exist_ok=True)
            target = aside / str(step)
            if target.exists():
                target = aside / f"{step}.{int(time.time())}"
            (self.directory / str(step)).rename(target)
            log.warning("moved the unreadable checkpoint to %s", target)
        self.manager.reload()

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()


class PreemptionWatch:
    """Notices SIGTERM (what Cloud TPU and most schedulers send before preemption).

    On one process a signal handler sets a flag; on several, Orbax's preemption sync point makes
    every process agree on the same step to save at.
    """

    def __init__(self, manager: Checkpointer):
        self._manager = manager
        self._flag = threading.Event()
        self._previous = None
        if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum, frame):
        log.warning("received signal %d: saving a checkpoint and stopping", signum)
        self._flag.set()

    def should_stop(self, step: int) -> bool:
        if jax.process_count() > 1:
            return bool(self._manager.manager.reached_preemption(step))
        return self._flag.is_set()

    def close(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
