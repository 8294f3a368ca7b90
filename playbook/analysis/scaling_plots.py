"""Figures of a batch-size scaling study, each a function returning a matplotlib Figure.

- `steps_to_result_plot`: steps to result against batch size on log-log axes,
  with the perfect-scaling line through the smallest reached batch size, each
  doubling coloured by its regime, and unreached goals drawn as red crosses
  (Shallue et al. 2018, Figure 1);
- `learning_rate_plot`: the learning rate of each batch size's fastest trial
  against the linear and square-root scaling rules (their Figure 8);
- `budget_plot`: the best metric per batch size under a step budget and under
  an epoch budget (their Figure 11).

The tables come from `playbook.analysis.scaling`; nothing is decided here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from playbook.analysis import scaling
from playbook.analysis.figure_style import INFEASIBLE_COLOR, new_figure
from playbook.goal import Goal

REGIME_COLORS = {scaling.PERFECT: "tab:green", scaling.DIMINISHING: "tab:orange",
                 scaling.MAXIMAL: "tab:red"}


def steps_to_result_plot(table: pd.DataFrame, key: str = "batch_size",
                         regimes: scaling.Regimes | None = None,
                         trial_steps: pd.DataFrame | None = None) -> Figure:
    """Steps to result vs `key` (log-log). `trial_steps` (columns `key`, steps), when
    given, draws every trial's own first step at the goal faintly behind."""
    regimes = regimes or scaling.classify_regimes(table[key], table["steps"])
    fig = new_figure()
    ax = fig.add_subplot()
    reached = table[table["reached"]].sort_values(key)
    if trial_steps is not None and len(trial_steps):
        ax.scatter(trial_steps[key], trial_steps["steps"], color="grey", alpha=0.3, s=12,
                   label="each trial's first step at the goal", zorder=1)
    for seg in regimes.segments.itertuples():
        y = reached.set_index(key)["steps"]
        ax.plot([seg.batch_size, seg.next_batch_size], [y[seg.batch_size], y[seg.next_batch_size]],
                color=REGIME_COLORS[seg.regime], lw=2.5, zorder=2)
    ax.scatter(reached[key], reached["steps"], color="black", zorder=3, s=25)
    for name, color in REGIME_COLORS.items():
        if name in set(regimes.segments["regime"]):
            ax.plot([], [], color=color, lw=2.5, label=name)
    if len(reached):
        b0, s0 = float(reached[key].iloc[0]), float(reached["steps"].iloc[0])
        b = np.geomspace(b0, float(table[key].max()), 50)
        ax.plot(b, s0 * b0 / b, "k--", lw=1, alpha=0.6, label="perfect scaling (slope -1)")
    missing = table[~table["reached"]]
    if len(missing):
        ax.scatter(missing[key], [0.97] * len(missing), marker="x", color=INFEASIBLE_COLOR, s=50,
                   transform=ax.get_xaxis_transform(), clip_on=False, zorder=4,
                   label=f"goal not reached ({len(missing)})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(table[key].astype(float), [f"{v:g}" for v in table[key]])
    attrs = table.attrs
    word = Goal.of(attrs.get("goal", "minimize")).reaches
    ax.set(xlabel=key, ylabel="steps to result",
           title=f"steps to reach {attrs.get('metric', '')} {word} {attrs.get('target', '')}"
                 f" (best trial per {key})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="best")
    return fig


def learning_rate_plot(table: pd.DataFrame, key: str = "batch_size",
                       lr_key: str = "learning_rate", momentum_key: str = "momentum") -> Figure:
    """The fastest trial's (effective) learning rate per `key`, with the linear and
    square-root rules drawn from the smallest reached value."""
    reached = table[table["reached"]].sort_values(key)
    fig = new_figure()
    ax = fig.add_subplot()
    effective = momentum_key in reached
    if len(reached):
        lr = scaling.effective_learning_rate(reached, lr_key, momentum_key)
        ax.plot(reached[key], lr, "o-", color="black",
                label=f"best {'effective ' if effective else ''}learning rate"
                      f" (fitted slope {scaling.log_log_slope(reached[key], lr):.2f})")
        if effective:
            ax.plot(reached[key], reached[lr_key], "s:", color="grey", markersize=4,
                    label=f"best {lr_key}")
        rules = scaling.scaling_rules(table[key], float(reached[key].iloc[0]), float(lr.iloc[0]))
        ax.plot(rules["batch_size"], rules["linear"], "--", color="tab:blue",
                label="linear scaling (slope 1)")
        ax.plot(rules["batch_size"], rules["sqrt"], "--", color="tab:purple",
                label="square-root scaling (slope 0.5)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(table[key].astype(float), [f"{v:g}" for v in table[key]])
    ylabel = f"{lr_key} / (1 - {momentum_key})" if effective else lr_key
    ax.set(xlabel=key, ylabel=ylabel,
           title=f"learning rate of the fastest trial per {key}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="best")
    return fig


def budget_plot(table: pd.DataFrame, key: str = "batch_size") -> Figure:
    """Best metric per `key` under the step budget and under the epoch budget."""
    fig = new_figure()
    ax = fig.add_subplot()
    attrs = table.attrs
    steps = int(table["step_budget"].max()) if len(table) else 0
    ax.plot(table[key], table["step_budget_best"], "o-", color="tab:blue",
            label=f"step budget ({steps} steps)")
    ax.plot(table[key], table["epoch_budget_best"], "s-", color="tab:orange",
            label=f"epoch budget ({attrs.get('epochs', 0):g} epochs)")
    unmeasured = table[table["epoch_budget_best"].isna()]
    if len(unmeasured):
        ax.scatter(unmeasured[key], [0.03] * len(unmeasured), marker="x",
                   color=INFEASIBLE_COLOR, transform=ax.get_xaxis_transform(), clip_on=False,
                   label="epoch budget not measured (beyond the steps or before the first "
                         "evaluation)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(table[key].astype(float), [f"{v:g}" for v in table[key]])
    ax.set(xlabel=key, ylabel=f"best {attrs.get('metric', '')}",
           title=f"best {attrs.get('metric', '')} per {key}: step budget vs epoch budget")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="best")
    return fig
