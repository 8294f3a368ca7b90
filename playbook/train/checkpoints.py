"""A trial's orbax checkpoints: the best N by the selection metric, and the latest.

Playbook: "choose the best checkpoint retrospectively" — every checkpoint saved
with evaluation metrics competes for the `keep_best` places by `metric` and its
goal; the latest checkpoint is also kept, metrics or not, so an interrupted
trial resumes where it stopped. Both live in one orbax `CheckpointManager`
under `workdir/checkpoints/<step>/` whose preservation policy is "latest 1 OR
best N", so no step is ever written twice. Saves are asynchronous: `save`
returns once the arrays are copied off the device; orbax waits for the previous
save before starting the next, and `wait()` / `close()` before exit.

Interrupted or damaged checkpoints: orbax writes each step to a temporary
directory and renames it when complete, so a save killed midway leaves only a
`<step>.orbax-checkpoint-tmp-*` directory, which is ignored and removed when a
manager is next opened. A completed directory that later loses files is still
listed by orbax; `restore_latest` / `restore_best` then log a warning, delete
that step (so the trial can save it again) and fall back to the next candidate.
This module does not decide when to save; the training loop does.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from playbook.errors import ConfigError
from playbook.goal import GOALS, Goal

_ITEM = "state"

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Restored:
    """A restored checkpoint: its step and the state, structured like the target."""

    step: int
    state: Any


class Checkpoints:
    """Best-N-by-metric plus latest checkpoints of one trial, in `workdir/checkpoints`.

    Use as a context manager, or call `close()`, so pending asynchronous saves finish.
    """

    def __init__(self, workdir: str | os.PathLike, metric: str, goal: str, keep_best: int = 1,
                 async_save: bool = True):
        if goal not in GOALS:
            raise ConfigError(f"goal '{goal}' for metric '{metric}' is unknown; "
                              f"valid: {', '.join(GOALS)}")
        if keep_best < 0:
            raise ConfigError(f"checkpoint.keep_best must be >= 0, got {keep_best}")
        self.metric, self.goal, self.keep_best = metric, goal, keep_best
        self.directory = os.path.join(os.fspath(workdir), "checkpoints")
        policy = checkpoint_managers.AnyPreservationPolicy([
            checkpoint_managers.LatestN(n=1),
            checkpoint_managers.BestN(get_metric_fn=self._score, n=keep_best,
                                      keep_checkpoints_without_metrics=False),
        ])
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policy,
            # best_fn makes orbax store the metrics with each step (for BestN and reopening).
            best_fn=self._score, best_mode="max",
            cleanup_tmp_directories=True, enable_async_checkpointing=async_save)
        self._manager = ocp.CheckpointManager(self.directory, options=options,
                                              item_names=(_ITEM,))

    def _score(self, metrics: Mapping[str, Any]) -> float:
        """Higher is better; a missing or non-finite metric ranks last."""
        return Goal.of(self.goal).score(float(metrics.get(self.metric, math.nan)))

    def save(self, step: int, state: Any, metrics: Mapping[str, Any] | None = None) -> bool:
        """Saves `state` at `step`; False (nothing written) unless step > latest_step().

        With `metrics` (scalars, including `metric`) the step competes for the
        best places; without, it is kept only while it is the latest.
        """
        if metrics is not None:
            if self.metric not in metrics:
                raise ValueError(f"metrics for step {step} lack the selection metric "
                                 f"'{self.metric}': {sorted(metrics)}")
            metrics = {k: float(v) for k, v in metrics.items()}
        args = ocp.args.Composite(**{_ITEM: ocp.args.StandardSave(state)})
        return self._manager.save(int(step), args=args, metrics=metrics)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def metrics(self, step: int) -> dict[str, float] | None:
        """The metrics saved with `step`, or None for a latest-only checkpoint."""
        metrics = self._manager.metrics(step)
        return None if metrics is None else dict(metrics)

    def best_steps(self) -> list[int]:
        """The kept steps with metrics, best first (at most `keep_best`)."""
        scored = [(self._score(m), s) for s in self.all_steps()
                  if (m := self.metrics(s)) is not None]
        # On ties the later step wins, as in orbax's BestN, so that these are
        # exactly the steps the preservation policy keeps for their metric.
        ranked = sorted(scored, reverse=True)
        return [s for _, s in ranked[:self.keep_best]]

    def best_step(self) -> int | None:
        steps = self.best_steps()
        return steps[0] if steps else None

    def best_path(self) -> str | None:
        """The directory of the best checkpoint, or None when none has metrics."""
        step = self.best_step()
        return None if step is None else self._step_path(step)

    def restore(self, step: int, target: Any) -> Any:
        """The state saved at `step`, with the pytree structure, dtypes and shardings of
        `target` (arrays or `jax.ShapeDtypeStruct`s)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        args = ocp.args.Composite(**{_ITEM: ocp.args.StandardRestore(abstract)})
        return self._manager.restore(step, args=args)[_ITEM]

    def restore_latest(self, target: Any) -> Restored | None:
        """The newest readable checkpoint (see the module docstring), or None if none."""
        return self._restore_first(sorted(self.all_steps(), reverse=True), target)

    def restore_best(self, target: Any) -> Restored | None:
        """The best readable checkpoint by the metric, or None if none has metrics."""
        return self._restore_first(self.best_steps(), target)

    def _restore_first(self, steps: list[int], target: Any) -> Restored | None:
        self.wait()
        for step in steps:
            try:
                return Restored(step, self.restore(step, target))
            except Exception as e:  # orbax and tensorstore raise many kinds.
                log.warning("checkpoint at step %d is unreadable, deleting it (%s): %s", step,
                            self._step_path(step), (str(e).splitlines() or [""])[0][:300])
                self._manager.delete(step)
        return None

    def _step_path(self, step: int) -> str:
        return os.fspath(ocp.step.build_step_path(self._manager.directory,
                                                  ocp.step.standard_name_format(), step))

    def wait(self) -> None:
        """Blocks until pending asynchronous saves are complete on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases the manager."""
        self._manager.close()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _MissingMetricsWarning(logging.Filter):
    """Drops orbax's warning for a latest-only save, which is intended here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not provide metrics" not in record.getMessage()


logging.getLogger("absl").addFilter(_MissingMetricsWarning())
