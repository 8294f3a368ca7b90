"""The small two-optimizer study on the synthetic workload that many tests run."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
BASELINE = str(ROOT / "configs" / "synthetic_mlp.py")

TWO_OPTIMIZERS = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"optimizer": ["nesterov", "adamw"]}},
        nuisance={{
            "learning_rate": hp.branches("optimizer", {{
                "nesterov": hp.log(1e-2, {nesterov_high}), "adamw": hp.log(1e-3, 3e-2)}}),
            "weight_decay": hp.log(1e-6, 1e-3),
        }},
        fixed={{"max_train_steps": {steps}, "eval_every_steps": {every},
               "log_every_steps": {log_every}{extra}}},
        budget={budget})
"""


def two_optimizer_study(path: str | os.PathLike, *, budget: int = 2, steps: int = 120,
                        every: int = 40, log_every: int = 20,
                        save_latest_every_seconds: float | None = None,
                        keep_best: int | None = None, nesterov_high: float = 0.3) -> str:
    """Writes the study config to `path` (Nesterov vs AdamW, learning rate and weight
    decay searched, synthetic MLP) and returns the path. `save_latest_every_seconds=0`
    writes a checkpoint at every evaluation (playbook.train.checkpoint_policy);
    `keep_best` best checkpoints are kept; Nesterov's learning rate reaches
    `nesterov_high` (far past 0.3, some of its trials diverge)."""
    extra = "" if keep_best is None else f', "checkpoint.keep_best": {keep_best}'
    extra += ("" if save_latest_every_seconds is None else
              f', "checkpoint.save_latest_every_seconds": {save_latest_every_seconds}')
    with open(path, "w") as f:
        f.write(TWO_OPTIMIZERS.format(baseline=BASELINE, budget=budget, steps=steps,
                                      every=every, log_every=log_every, extra=extra,
                                      nesterov_high=nesterov_high))
    return os.fspath(path)
