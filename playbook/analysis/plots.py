"""The playbook's figures of a study, each a function returning a matplotlib Figure.

- `axis_plot`: objective vs one nuisance hyperparameter, with the search
  bounds, infeasible trials as red crosses, and a warning when the best trials
  sit near a bound (Playbook: "axis plots" and "check the search space boundaries");
- `isolation_plot`: the best objective per scientific value after optimising
  the nuisance ones, with the spread of seed reruns;
- `training_curves`: train loss and validation metric of the best trials;
- `all_curves`: the validation metric of every trial;
- `best_step_plot`: where retrospective checkpoint selection landed;
- `evp_plots.evp_plot`: the expected best objective after n trials per
  scientific value, with bootstrap bands (Dodge et al. 2019);
- `scaling_figures`: for a batch-size study, steps to result and the best
  learning rates per batch size (scaling_plots.py).

Figures are built on the Agg canvas without pyplot, so nothing global changes
and a report can draw hundreds of them. This module decides nothing: the
boundary warnings come from `space_findings.boundary_hits`.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from playbook import search as hp
from playbook.analysis import (
    decisions,
    diagnostics,
    evp_plots,
    ranges,
    scaling,
    scaling_plots,
    space_findings,
)
from playbook.analysis import load as load_lib
from playbook.analysis.figure_style import INFEASIBLE_COLOR, colors, new_figure
from playbook.analysis.load import Study
from playbook.goal import Goal


def _metric_label(study: Study) -> str:
    return f"{study.metric} ({Goal.of(study.goal).word} is better)"


# -- axis plots ------------------------------------------------------------------------


def axis_plot(study: Study | str | os.PathLike, key: str,
              margin: float = space_findings.EDGE_MARGIN) -> Figure:
    """Objective vs the nuisance hyperparameter `key`, one colour per scientific value."""
    study = load_lib.as_study(study)
    if key not in study.spec.nuisance:
        raise KeyError(f"'{key}' is not a nuisance hyperparameter of the study; nuisance "
                       f"keys: {', '.join(study.nuisance_keys)}")
    spec = study.spec.nuisance[key]
    branches = [b for _, b in spec.branches] if isinstance(spec, hp.Branches) else [spec]
    trials = load_lib.originals(study.trials)
    trials = trials[trials[key].notna()]
    palette = colors(study)
    fig = new_figure()
    ax = fig.add_subplot()
    categories = _categories(branches)
    position = (lambda v: categories.index(v)) if categories else float
    offsets = {label: 0.08 * (i - (len(study.labels) - 1) / 2)
               for i, label in enumerate(study.labels)} if categories else {}
    done = trials[(trials["status"] == "done") & trials["objective"].notna()]
    for label, group in done.groupby("label", sort=False):
        x = [position(v) + offsets.get(label, 0.0) for v in group[key]]
        ax.scatter(x, group["objective"], color=palette.get(label), label=label, s=28,
                   alpha=0.85, zorder=3)
    bad = trials[trials["status"].isin(load_lib.INFEASIBLE)]
    if len(bad):
        # Infeasible trials have no objective: drawn as red crosses at the worse edge.
        y = 0.97 if Goal.of(study.goal).minimize else 0.03
        reasons = ", ".join(f"{n} {r}" for r, n in load_lib.reasons(bad).items())
        ax.scatter([position(v) for v in bad[key]], [y] * len(bad), marker="x",
                   color=INFEASIBLE_COLOR, s=40, transform=ax.get_xaxis_transform(),
                   label=f"infeasible ({reasons})", zorder=4, clip_on=False)
        ax.margins(y=0.15)  # Keeps the crosses clear of the feasible points.
    if categories:
        ax.set_xticks(range(len(categories)), [str(c) for c in categories])
        ax.set_xlim(-0.5, len(categories) - 0.5)
    else:
        _draw_bounds(ax, spec, study, palette)
        _set_scale(ax, branches)
    hits = space_findings.boundary_hits(study.trials, study.spec.nuisance, study.goal, key,
                                     study.spec.context(), margin)
    title = key
    at_limit = [h for h in hits if ranges.propose(key, h["spec"], h["side"]).at_limit]
    hits = [h for h in hits if h not in at_limit]
    if hits:
        sides = sorted({"lower" if h["side"] == "low" else "upper" for h in hits})
        labels = sorted({h["label"] for h in hits})
        title = (f"{key}\nWARNING: best trials near the {' and '.join(sides)} bound "
                 f"({', '.join(labels)})")
    elif at_limit:
        title = f"{key}\nbest trials at its natural limit (nothing to expand)"
    _log_if_positive(ax, done["objective"])
    ax.set_title(title, color="firebrick" if hits else "black", fontsize=10)
    ax.set_xlabel(key)
    ax.set_ylabel(_metric_label(study))
    if len(done) or len(bad):
        ax.legend(fontsize=7, loc="best")
    return fig


def axis_plots(study: Study | str | os.PathLike) -> dict[str, Figure]:
    """An axis plot for every nuisance hyperparameter."""
    study = load_lib.as_study(study)
    return {key: axis_plot(study, key) for key in study.nuisance_keys}


def _categories(branches: list[hp.Spec]) -> list[Any] | None:
    if not all(isinstance(b, hp.Choice) for b in branches):
        return None
    out: list[Any] = []
    for branch in branches:
        out += [v for v in branch.values if v not in out]
    return out


def searched_ranges(spec: hp.Spec | hp.Branches, study: Study, palette: dict[str, Any]
                    ) -> list[tuple[str, hp.Spec, Any]]:
    """(name, spec, colour) of each searched range of a hyperparameter: one per branch,
    in its scientific value's colour (grey when several values share it), or the one
    range in grey. Shared by the PNG and the interactive axis plots."""
    if not isinstance(spec, hp.Branches):
        return [("search", spec, "grey")]
    scientific = dict(study.spec.scientific)
    items = []
    for value, branch in spec.branches:
        labels = [lab for s, lab in zip(study.spec.scientific_values(), study.labels)
                  if spec.key in scientific and s[spec.key] == value]
        color = palette[labels[0]] if len(labels) == 1 else "grey"
        items.append((f"{spec.key}={value}", branch, color))
    return items


def _draw_bounds(ax, spec: hp.Spec | hp.Branches, study: Study, palette: dict[str, Any]) -> None:
    """Vertical lines at each range's bounds: per branch, in its scientific value's colour."""
    for name, branch, color in searched_ranges(spec, study, palette):
        low, high = space_findings.bounds(branch)
        for bound in (low, high):
            ax.axvline(bound, color=color, linestyle="--", linewidth=1, alpha=0.7, zorder=1)
        if isinstance(spec, hp.Branches):
            ax.text(high, 0.5, f" {name}", rotation=90, color=color, fontsize=7, va="center",
                    ha="right", transform=ax.get_xaxis_transform())


X_MARGIN = 0.04       # x limits: the searched range plus this fraction of its width (in scale)
MIN_TICK_GAP = 0.09   # ticks closer than this fraction of the width are dropped
REVERSE_LOG_TICKS = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)


def _set_scale(ax, branches: list[hp.Spec]) -> None:
    """The x axis of an axis plot: the spec's scale, limits at the searched range plus
    `X_MARGIN` of its width, and ticks spread over the width (reverse_log: 0.5, 0.9,
    0.99, ... and the bounds, none closer than `MIN_TICK_GAP`)."""
    scales = {getattr(b, "scale", "linear") for b in branches}
    if all(isinstance(b, hp.Discrete) for b in branches):
        values = sorted({float(v) for b in branches for v in b.values})
        scale = "log" if values[0] > 0 and values[-1] / values[0] >= 10 else "linear"
        low, high = values[0], values[-1]
    else:
        scale = scales.pop() if len(scales) == 1 else "linear"
        low = float(min(space_findings.bounds(b)[0] for b in branches))
        high = float(max(space_findings.bounds(b)[1] for b in branches))
        values = None
    forward, inverse = _SCALES[scale]
    if scale == "log":
        ax.set_xscale("log")
    elif scale == "reverse_log":
        # Dense near 1, as the search samples it: the axis is linear in -log10(1 - x).
        ax.set_xscale("function", functions=(forward, inverse))
    a, b = float(forward(low)), float(forward(high))
    pad = X_MARGIN * (b - a) if b > a else 0.5
    ax.set_xlim(float(inverse(a - pad)), float(inverse(b + pad)))
    if values is not None:
        candidates = values
    elif scale == "reverse_log":
        candidates = [low, high, *(t for t in REVERSE_LOG_TICKS if low < t < high)]
    elif scale == "log":  # decades, then 2x and 5x of them: labelled even within one decade
        decades = [10.0 ** k for k in range(math.floor(math.log10(low)),
                                            math.ceil(math.log10(high)) + 1)]
        candidates = [low, high, *(m * d for m in (1, 2, 5) for d in decades
                                   if low < m * d < high)]
    else:
        return  # matplotlib's linear locator spreads ticks well
    ticks = _spread(candidates, forward, max(b - a, 1e-12))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _spread(candidates: list[float], forward, width: float) -> list[float]:
    """The candidates in order of priority, without any closer than `MIN_TICK_GAP` of
    `width` (in scale) to one already kept; returned sorted."""
    kept: list[float] = []
    for t in candidates:
        if all(abs(float(forward(t)) - float(forward(k))) >= MIN_TICK_GAP * width for k in kept):
            kept.append(t)
    return sorted(kept)


def _to_reverse_log(x):
    with np.errstate(all="ignore"):
        return -np.log10(np.clip(1.0 - np.asarray(x, dtype=float), 1e-12, None))


def _from_reverse_log(y):
    return 1.0 - 10.0 ** (-np.asarray(y, dtype=float))


_SCALES = {
    "linear": (lambda x: np.asarray(x, dtype=float), lambda y: np.asarray(y, dtype=float)),
    "log": (lambda x: np.log10(np.asarray(x, dtype=float)),
            lambda y: 10.0 ** np.asarray(y, dtype=float)),
    "reverse_log": (_to_reverse_log, _from_reverse_log),
}


# -- isolation plot --------------------------------------------------------------------


def isolation_plot(study: Study | str | os.PathLike) -> Figure:
    """The best objective of each scientific value after optimising the nuisance
    hyperparameters; every done trial faintly behind it; error bars: the std of the
    best trial's seed reruns (with the marker at their mean) where they exist."""
    study = load_lib.as_study(study)
    palette = colors(study)
    reference = decisions.reference(study.spec.scientific, study.spec.baseline)
    base_label = reference.label
    fig = new_figure(max(4.0, 1.2 * len(study.labels) + 2.5), 4.2)
    ax = fig.add_subplot()
    done = load_lib.ranked(study.trials, study.goal)
    rng = np.random.default_rng(0)
    for i, (label, scientific) in enumerate(zip(study.labels, study.spec.scientific_values())):
        mine = done[done["label"] == label]
        if len(mine):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(mine)), mine["objective"],
                       color=palette[label], alpha=0.25, s=14, zorder=2)
        e = decisions.estimate(study.trials, scientific, study.goal)
        if e.trial_id is None:
            continue
        if e.mean is None:  # no reruns yet: the selected trial alone, hollow (it is biased)
            ax.plot([i], [e.best], "o", color=palette[label], markersize=8,
                    markerfacecolor="none", zorder=3)
            ax.annotate(f"{e.best:.4g}\n(selected trial,\nno reruns)", (i, e.best),
                        xytext=(10, 0), textcoords="offset points", fontsize=7, va="center")
            continue
        ax.errorbar([i], [e.mean], yerr=[[e.std or 0.0], [e.std or 0.0]], fmt="o",
                    color=palette[label], markersize=8, capsize=6, zorder=3)
        note = f"{e.mean:.4g}" + (f"\n±{e.std:.2g} (n={e.seeds})" if e.std is not None else "")
        ax.annotate(note, (i, e.mean), xytext=(10, 0), textcoords="offset points", fontsize=7,
                    va="center")
    _log_if_positive(ax, done["objective"])
    word = "reference: not the baseline's" if reference.note else "baseline"
    ticks = [f"{lab}\n({word})" if lab == base_label else lab for lab in study.labels]
    ax.set_xticks(range(len(study.labels)), ticks, fontsize=8)
    ax.set_xlim(-0.6, len(study.labels) - 0.4)
    ax.set_ylabel(_metric_label(study))
    nuisance = "\n".join(textwrap.fill(line, 70) for line in _tuned(study))
    ax.set_title(f"isolation plot: best trial per scientific value\n{nuisance}\n"
                 f"markers: mean of the best trial's seed reruns (the trial itself excluded), "
                 f"error bars: their std", fontsize=8)
    return fig


def _tuned(study: Study) -> list[str]:
    """Lines naming the nuisance hyperparameters each scientific value's trials searched
    (a conditional one only where its condition holds): one line when all share them."""
    originals = load_lib.originals(study.trials)
    tuned = {label: [k for k in study.nuisance_keys
                     if k in originals and originals.loc[originals["label"] == label, k]
                     .notna().any()] for label in study.labels}
    if len({tuple(keys) for keys in tuned.values()}) <= 1:
        return [f"nuisance tuned: {', '.join(next(iter(tuned.values()), [])) or 'none'}"]
    return [f"{label} tuned {', '.join(keys) or 'nothing'}" for label, keys in tuned.items()]


# -- curves ----------------------------------------------------------------------------


def training_curves(study: Study | str | os.PathLike, top: int = 3) -> Figure:
    """Train loss and validation metric of the `top` best trials of each scientific value;
    a dot marks each trial's best step."""
    study = load_lib.as_study(study)
    palette = colors(study)
    fig = new_figure(11, 4.2)
    ax_train, ax_valid = fig.subplots(1, 2)
    for label, best in load_lib.best_few(study.trials, study.goal, top).items():
        for rank, (_, row) in enumerate(best.iterrows()):
            alpha = (1.0, 0.6, 0.35)[min(rank, 2)]
            name = f"{label} #{rank + 1} ({row['trial_id']})"
            steps, loss = study.curve(row["trial_id"], "train/loss")
            ax_train.plot(steps, loss, color=palette.get(label), alpha=alpha, lw=1.2, label=name)
            steps, valid = study.curve(row["trial_id"], study.metric)
            ax_valid.plot(steps, valid, color=palette.get(label), alpha=alpha, lw=1.2,
                          marker=".", markersize=3, label=name)
            if not pd.isna(row["best_step"]) and len(steps):
                at = np.flatnonzero(steps == float(row["best_step"]))
                if len(at):
                    ax_valid.plot(steps[at[0]], valid[at[0]], "o", color=palette.get(label),
                                  markersize=7, markerfacecolor="none")
    _log_if_positive(ax_train)
    _log_if_positive(ax_valid)
    ax_train.set(title="training loss", xlabel="step", ylabel="train/loss")
    ax_valid.set(title=f"validation {study.metric} (circle: best step)", xlabel="step",
                 ylabel=study.metric)
    for ax in (ax_train, ax_valid):
        if ax.lines:
            ax.legend(fontsize=6, loc="best")
        ax.title.set_fontsize(9)
    return fig


def all_curves(study: Study | str | os.PathLike) -> Figure:
    """The validation metric of every trial (Playbook: "curves for all trials")."""
    study = load_lib.as_study(study)
    palette = colors(study)
    fig = new_figure()
    ax = fig.add_subplot()
    seen = set()
    for _, row in load_lib.originals(study.trials).iterrows():
        steps, valid = study.curve(row["trial_id"], study.metric)
        if not len(steps):
            continue
        label = row["label"] if row["label"] not in seen else None
        seen.add(row["label"])
        style = ":" if row["status"] in load_lib.INFEASIBLE else "-"
        ax.plot(steps, valid, style, color=palette.get(row["label"]), alpha=0.5, lw=1,
                label=label)
    ax.set(title=f"validation {study.metric} of every trial (dotted: infeasible)",
           xlabel="step", ylabel=study.metric)
    ax.title.set_fontsize(9)
    if seen:
        ax.legend(fontsize=7)
    return fig


def _log_if_positive(ax, values=None) -> None:
    """A log y-axis when the values are positive and span more than a factor of 10: an
    error rate of 0.4% next to one of 50% is still readable."""
    if values is None:
        values = np.concatenate([line.get_ydata() for line in ax.lines]) if ax.lines else []
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() > 10:
        ax.set_yscale("log")


# -- checkpoints -----------------------------------------------------------------------


def best_step_plot(study: Study | str | os.PathLike) -> Figure:
    """Histogram of best_step / max_train_steps over done trials, stacked per scientific
    value, with the playbook's zones: first 10% (too many steps) and last 25% (train longer)."""
    study = load_lib.as_study(study)
    palette = colors(study)
    done = load_lib.ranked(study.trials, study.goal)
    done = done[done["best_step"].notna() & done["max_train_steps"].notna()
                & (done["max_train_steps"] > 0)]
    fig = new_figure()
    ax = fig.add_subplot()
    ax.axvspan(0, diagnostics.EARLY_BEST, color="tab:orange", alpha=0.12)
    ax.axvspan(diagnostics.LATE_BEST, 1, color="tab:blue", alpha=0.12)
    ax.text(diagnostics.EARLY_BEST / 2, 0.97, "too many\nsteps?", ha="center", va="top",
            fontsize=7, transform=ax.get_xaxis_transform())
    ax.text((1 + diagnostics.LATE_BEST) / 2, 0.97, "train\nlonger?", ha="center", va="top",
            fontsize=7, transform=ax.get_xaxis_transform())
    groups = [(label, (g["best_step"].astype(float) / g["max_train_steps"].astype(float))
               .to_numpy()) for label, g in done.groupby("label", sort=False)]
    if groups:
        ax.hist([v for _, v in groups], bins=np.linspace(0, 1, 21), stacked=True,
                color=[palette.get(label) for label, _ in groups],
                label=[label for label, _ in groups])
        ax.legend(fontsize=7, loc="center left")
    ax.set_xlim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of trials
    bad = load_lib.originals(study.trials)
    bad = bad[bad["status"].isin(load_lib.INFEASIBLE)]
    excluded = (f"\n{len(bad)} infeasible trials not counted ("
                + ", ".join(f"{n} {r}" for r, n in load_lib.reasons(bad).items()) + ")"
                if len(bad) else "")
    ax.set(xlabel="best_step / max_train_steps", ylabel="trials",
           title=f"where retrospective checkpoint selection landed{excluded}")
    ax.title.set_fontsize(9)
    return fig


# -- all of them -----------------------------------------------------------------------


def figures(study: Study | str | os.PathLike) -> dict[str, Figure]:
    """Every figure of the study, by a file-safe name."""
    study = load_lib.as_study(study)
    out = {f"axis_{slug(key)}": fig for key, fig in axis_plots(study).items()}
    out["isolation"] = isolation_plot(study)
    out["training_curves"] = training_curves(study)
    out["all_curves"] = all_curves(study)
    out["best_steps"] = best_step_plot(study)
    out["expected_validation_performance"] = evp_plots.evp_plot(study)
    out.update(scaling_figures(study))
    return out


def scaling_figures(study: Study, key: str = "batch_size") -> dict[str, Figure]:
    """For a study whose only scientific key is `key`: steps to result (to the goal every
    value reached, `scaling.common_target`) and the best learning rates (scaling_plots)."""
    target = scaling.common_target(study) if study.scientific_keys == [key] else None
    if target is None:
        return {}
    table = scaling.steps_to_result(study, target)
    if table["reached"].sum() < 2 or not pd.api.types.is_numeric_dtype(table[key]):
        return {}
    out = {"steps_to_result": scaling_plots.steps_to_result_plot(table, key)}
    if "learning_rate" in table:
        out["learning_rate_scaling"] = scaling_plots.learning_rate_plot(table, key)
    return out


def slug(name: str) -> str:
    """A file-name-safe version of a config key ('model.width' -> 'model_width')."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "x"


__all__ = ["all_curves", "axis_plot", "axis_plots", "best_step_plot", "colors", "figures",
           "isolation_plot", "scaling_figures", "slug", "training_curves"]
