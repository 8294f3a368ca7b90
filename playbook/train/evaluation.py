"""Validation (or test) metrics of one trial or of K trials in one program.

`evaluate` sends the evaluation program over a split's padded batches with at
most two dispatches in flight (XLA's CPU collectives deadlock when many
multi-device programs queue) and returns weighted means. The program is a
trial's (`programs.Programs.evaluate`: one dict of metrics) or a group's
vmapped one (`batched.GroupPrograms.evaluate`: each metric with a leading
axis of K members, `members=K`: one dict per member).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

IN_FLIGHT = 2  # dispatches at once, at most


def evaluate(program: Callable[..., tuple], params: Any, batches: Sequence[tuple],
             model_state: Any = None, prefix: str = "valid", members: int | None = None
             ) -> Any:
    """Weighted means over `batches` of each eval metric as `{prefix}/{name}` floats:
    one dict, or with `members` a list of `members` dicts (a vmapped program's).
    `model_state` is the state's `model_state` (batch norm's running averages)."""
    outputs = []
    model_state = {} if model_state is None else model_state
    for i, batch in enumerate(batches):
        outputs.append(program(params, *batch, model_state))
        if i >= IN_FLIGHT:
            jax.block_until_ready(outputs[i - IN_FLIGHT])
    totals: dict[str, np.ndarray] = {}
    weight = 0.0
    for sums, weights in jax.device_get(outputs):
        weight += float(np.asarray(weights, np.float64).reshape(-1)[0])
        for name, v in sums.items():
            totals[name] = totals.get(name, 0.0) + np.asarray(v, np.float64)
    means = {f"{prefix}/{name}": v / weight for name, v in sorted(totals.items())}
    if members is None:
        return {k: float(v) for k, v in means.items()}
    return [{k: float(v[i]) for k, v in means.items()} for i in range(members)]
