"""`playbook train`: loads a config (with `--config.KEY=VALUE` overrides), trains one
trial in a workdir and prints a one-line summary.

As in the Flax examples' `main.py`, this only loads the config and calls
`train_and_evaluate`; flags are parsed in `playbook.cli`. Exit status: 0 for a
trial that is done or diverged (a divergence is a result, not an error), 1 for
a failed one (its traceback is in `workdir/error.txt`). A ConfigError is left
to the CLI, which prints it on one line and exits 2.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence

from playbook import config as config_lib
from playbook.train.result import TrialResult


def run(config_path: str, overrides: Sequence[str], workdir: str) -> int:
    """Trains the trial of `config_path` + `overrides` in `workdir`; the exit status."""
    config = config_lib.load(config_path, overrides)
    _show_progress_logs()
    from playbook.train.loop import train_and_evaluate  # deferred: imports JAX

    result = train_and_evaluate(config, workdir)
    print(summary(result, workdir))
    return 1 if result.status == "failed" else 0


def summary(result: TrialResult, workdir: str) -> str:
    """One line: status, the best metric at best_step, throughput."""
    parts = [f"{result.status}: {workdir}", f"steps {result.steps}/{result.max_train_steps}"]
    if result.best is not None and result.metric in result.best:
        parts.append(f"best {result.metric} {result.best[result.metric]:.4g} "
                     f"at step {result.best_step}")
    rate = result.throughput.steps_per_second
    if math.isfinite(rate):
        parts.append(f"{rate:.0f} steps/s ({result.throughput.examples_per_second:.0f} examples/s)")
    if result.error:
        parts.append(result.error.strip().splitlines()[-1])
    return "; ".join(parts)


def _show_progress_logs() -> None:
    """Evaluation and resumption lines from `playbook.*` on stderr (not orbax's chatter)."""
    logger = logging.getLogger("playbook")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
