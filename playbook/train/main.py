"""`playbook train`: loads a config (with `--config.KEY=VALUE` overrides), trains one
trial in a workdir and prints a one-line summary (for a diverged or failed trial, why,
in words, and at which step).

As in the Flax examples' `main.py`, this only loads the config and calls
`train_and_evaluate`; flags are parsed in `playbook.cli`. Exit status: 0 for a
trial that is done or diverged (a divergence is a result, not an error), 1 for
a failed one (its traceback is in `workdir/error.txt`). A ConfigError is left
to the CLI, which prints it on one line and exits 2.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Sequence

from playbook import config as config_lib
from playbook import trial_files
from playbook.errors import ConfigError, check_directory
from playbook.trial_files import TrialResult

SHOWN_DIFFERENCES = 4
# Why a trial is infeasible or has no value (trial_files.REASONS), in words.
REASON_WORDS = {
    "non_finite": "the training loss, its gradient norm or the metric became NaN or infinite",
    "loss_explosion": "the training loss exploded past divergence_factor times its first value",
    "collapsed": "the training loss went back to chance level after the trial had learned",
    "at_chance": "the trial never learned: it ended at chance level",
    "exception": "the training raised an exception",
    "metric_missing": "the selection metric was never logged",
    "timeout": "the trial ran past the study's trial_timeout",
}


def run(config_path: str, overrides: Sequence[str], workdir: str) -> int:
    """Trains the trial of `config_path` + `overrides` in `workdir`; the exit status."""
    check_directory(workdir)
    config = config_lib.load(config_path, overrides)
    config_lib.check_baseline(config, config_path, "train")
    check_same_config(config, workdir)
    _show_progress_logs()
    from playbook.train.loop import train_and_evaluate  # deferred: imports JAX

    result = train_and_evaluate(config, workdir)
    print(summary(result, workdir))
    return 1 if result.status == "failed" else 0


def check_same_config(config, workdir: str) -> None:
    """ConfigError when `workdir` holds a trial of another config: a rerun resumes (or
    returns) that trial, so new hyperparameters would silently not be trained."""
    if os.path.exists(os.path.join(workdir, "study.json")):
        raise ConfigError(f"'{workdir}' is a study directory; `playbook study` trains its "
                          f"trials: give `playbook train` a new --workdir")
    stored = trial_files.read_config(workdir)
    if stored is None:
        return  # no trial there yet (or nothing readable to resume)
    stored = config_lib.flatten(stored)
    given = config_lib.flatten(json.loads(json.dumps(config_lib.to_dict(config))))
    differing = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
    if not differing:
        return
    shown = ", ".join(f"{k} {stored.get(k, '(absent)')!r} -> {given.get(k, '(absent)')!r}"
                      for k in differing[:SHOWN_DIFFERENCES])
    more = f" and {len(differing) - SHOWN_DIFFERENCES} more" if len(differing) > \
        SHOWN_DIFFERENCES else ""
    raise ConfigError(f"'{workdir}' holds a trial of another config (it differs in {shown}"
                      f"{more}); a workdir resumes only its own config: give a new --workdir "
                      f"for the new one")


def summary(result: TrialResult, workdir: str) -> str:
    """One line: status, why a trial diverged or failed (and at which step), the best
    metric at best_step, throughput."""
    parts = [f"{result.status}: {workdir}"]
    if result.cause is not None:
        parts.append(why(result))
    parts.append(f"steps {result.steps}/{result.max_train_steps}")
    if result.best is not None and result.metric in result.best:
        parts.append(f"best {result.metric} {result.best[result.metric]:.4g} "
                     f"at step {result.best_step}")
    rate = result.throughput.steps_per_second
    if math.isfinite(rate):
        parts.append(f"{rate:.0f} steps/s ({result.throughput.examples_per_second:.0f} examples/s)")
    if result.error:
        parts.append(result.error.strip().splitlines()[-1])
    return "; ".join(parts)


def why(result: TrialResult) -> str:
    """The result's reason in words, with the step it was recorded at, e.g.
    "non_finite at step 25: the training loss, ... became NaN or infinite"."""
    cause = result.cause
    if result.status == "diverged" and cause is None:
        return "reason not recorded (a result written before reasons were)"
    at = ("" if not result.steps else f" at step {result.steps}"
          if result.steps < result.max_train_steps else
          f" by the end of training (step {result.steps})")
    return f"{cause}{at}: {REASON_WORDS.get(cause, cause)}"


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever `sys.stderr` is when a record is emitted, so a
    later command in the same process (a notebook, a test harness that swaps
    stderr) never writes to a stream that an earlier one saw and that is closed."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass  # always the current sys.stderr


def _show_progress_logs() -> None:
    """Evaluation and resumption lines from `playbook.*` on stderr (not orbax's chatter)."""
    logger = logging.getLogger("playbook")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
