"""What `playbook steps-to-result` and `playbook max-train-steps` do: thin shells that
load a study, call `playbook.analysis.scaling`, print, and (steps-to-result)
save the scaling figures as PNG. Each returns an exit status; bad input raises
ConfigError, which the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import math
import os

import pandas as pd

from playbook.analysis import load as load_lib
from playbook.analysis import scaling, scaling_plots
from playbook.errors import ConfigError, closest
from playbook.goal import Goal

FIGURES_DIR = "scaling"


def steps_to_result(study_dir: str | os.PathLike, target: float, metric: str | None = None,
                    goal: str | None = None, key: str = "batch_size", out: str | None = None
                    ) -> int:
    """Prints steps to result per scientific value, the regimes and the best learning rates
    along `key`, and writes the figures to `out` (default STUDY_DIR/scaling)."""
    if not math.isfinite(target):
        raise ConfigError(f"--goal must be a finite number, e.g. --goal 0.45; got {target}")
    study = load_lib.Study.load(study_dir)
    if key not in study.scientific_keys:
        raise ConfigError(f"'{key}' is not a scientific key of study '{study.spec.name}'"
                          f"{closest(key, study.scientific_keys)}; scientific: "
                          f"{', '.join(study.scientific_keys)} (pass --key)")
    table = scaling.steps_to_result(study, target, metric, goal)
    attrs = table.attrs
    word = Goal.of(attrs["goal"]).reaches
    print(f"steps to result: first evaluated step with {attrs['metric']} {word} {target:g}, "
          f"best over each value's done trials (study {study.spec.name})")
    columns = ["label", "steps", "reaching", "trials", "infeasible", "trial_id",
               *study.nuisance_keys]
    print(table[columns].to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
    unreached = table.loc[~table["reached"], "label"].tolist()
    if unreached:
        print(f"goal not reached by: {', '.join(unreached)}")
    if len(study.scientific_keys) > 1:
        print(f"regimes and figures need '{key}' to be the only scientific key; this study "
              f"also varies {', '.join(k for k in study.scientific_keys if k != key)}")
        return 0
    table[key] = pd.to_numeric(table[key], errors="raise")
    if table["reached"].sum() < 2:
        print("fewer than two values reached the goal: no regimes (choose an easier goal)")
        return 0
    regimes = scaling.classify_regimes(table[key], table["steps"])
    print("regimes (log-log slope of steps to result per doubling):")
    print(regimes.summary())
    reached = table[table["reached"]]
    if "learning_rate" in table:
        lr = scaling.effective_learning_rate(reached)
        what = "effective learning rate lr/(1-momentum)" if "momentum" in table else \
            "learning rate"
        print(f"best {what} grows as {key}^{scaling.log_log_slope(reached[key], lr):.2f} "
              f"(linear scaling: ^1, square-root scaling: ^0.5)")
    out = out or os.path.join(study.root, FIGURES_DIR)
    os.makedirs(out, exist_ok=True)
    figures = {"steps_to_result": scaling_plots.steps_to_result_plot(table, key, regimes)}
    if "learning_rate" in table:
        figures["learning_rate_scaling"] = scaling_plots.learning_rate_plot(table, key)
    for name, fig in figures.items():
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, format="png", dpi=100)
        print(f"figure: {path}")
    return 0


def max_train_steps(study_dir: str | os.PathLike, target: float, metric: str = "train/loss"
                    ) -> int:
    """Prints the playbook's first max_train_steps from a constant-learning-rate sweep."""
    if not math.isfinite(target):
        raise ConfigError(f"--goal must be a finite number, e.g. --goal 0.01; got {target}")
    suggestion = scaling.max_train_steps_from_sweep(study_dir, target, metric)
    print(suggestion.text())
    return 0
