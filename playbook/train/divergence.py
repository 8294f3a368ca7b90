"""When a trial has diverged: the one rule, for playbook's loop and for the curves
of an external trainer.

Playbook: a divergent trial is infeasible, a result and not a crash. A trial
diverges when a training loss (or a gradient norm, where known) is not finite,
or when the mean training loss of a log interval exceeds `factor` times the
initial loss (`factor` 0 turns the second test off). The loop calls `diverged`
at every log step; `first_divergence` scans a finished curve. Other ways a
trial can fail to train belong here too, beside these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_FACTOR = 10.0


def diverged(losses: Sequence[float] | np.ndarray, initial_loss: float, factor: float,
             grad_norms: Sequence[float] | np.ndarray = ()) -> str | None:
    """The reason (result.REASONS) if any of `losses` (one log interval) or `grad_norms`
    is non-finite ('non_finite'), or their mean exceeds `factor * initial_loss`
    ('loss_explosion'); else None. A collapse back to chance level is judged over
    many log intervals: playbook.train.collapse."""
    losses = np.asarray(losses, dtype=float)
    if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(np.asarray(grad_norms, float)))):
        return "non_finite"
    if factor > 0 and float(np.mean(losses)) > factor * float(initial_loss):
        return "loss_explosion"
    return None


def first_divergence(steps: Sequence[int], losses: Sequence[float], factor: float
                     ) -> int | None:
    """The first of `steps` at which the logged training loss `losses` diverged (the
    initial loss is the first one logged), or None."""
    losses = np.asarray(losses, dtype=float)
    if not len(losses):
        return None
    for step, loss in zip(steps, losses, strict=True):
        if diverged([loss], losses[0], factor):
            return int(step)
    return None
