"""The playbook's interactive figures as Plotly figures, shared by `playbook serve` and the
static report.

- `axis_figure`: objective vs one nuisance hyperparameter, bounds as dashed lines,
  infeasible trials as red crosses above the feasible ones, hover with the trial's
  id and values (Playbook: "axis plots");
- `isolation_figure`: the best objective per scientific value, error bars from seed reruns;
- `curves_figure`: training loss and validation metric of chosen trials;
- `parallel_figure`: parallel coordinates of the done trials, coloured by the objective;
- `importance_figure`: hyperparameter importance (importance.py).

Every string that comes from a study (keys, values, labels, ids) is HTML-escaped
before it reaches a figure: Plotly renders a subset of HTML in text, so a trial
value `<script>` is shown as text, never parsed. The matplotlib PNGs stay in
plots.py; this module writes nothing.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.colors
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io

from playbook import search as hp
from playbook.analysis import decisions, plots, space_findings
from playbook.analysis import load as load_lib
from playbook.analysis.load import Study
from playbook.dashboard import importance as importance_lib
from playbook.goal import Goal

INFEASIBLE_COLOR = "red"
TITLE_WIDTH = 50   # characters per title line: clear of the mode bar in half a page
LABEL_ANGLE = -25  # parallel-coordinates axis labels, tilted so that long ones do not overlap
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), height=380,
               font=dict(size=11), hoverlabel=dict(align="left"))


def esc(value: Any) -> str:
    """A value as HTML-escaped text (floats to 4 significant digits). Quotes are kept:
    Plotly shows text outside tags as it is, and decodes only &lt; &gt; &amp;."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value), quote=False)


def colors(study: Study) -> dict[str, str]:
    """The PNG figures' colour per scientific value, as hex."""
    return {label: matplotlib.colors.to_hex(c) for label, c in plots.colors(study).items()}


def to_json(fig: go.Figure) -> str:
    """The figure as Plotly JSON (data and layout) for `Plotly.react`."""
    return plotly.io.to_json(fig, validate=False)


def figures(study: Study) -> dict[str, go.Figure]:
    """Every study-level figure by name (axis plots first)."""
    out = {f"axis_{plots.slug(key)}": axis_figure(study, key) for key in study.nuisance_keys}
    out["isolation"] = isolation_figure(study)
    out["curves"] = curves_figure(study, default_curve_trials(study))
    out["parallel"] = parallel_figure(study)
    out["importance"] = importance_figure(study)
    return out


# -- hover -----------------------------------------------------------------------------


def hover(study: Study, row: pd.Series) -> str:
    """A trial's id, status, scientific and nuisance values and objective, escaped."""
    lines = [f"<b>trial {esc(row['trial_id'])}</b> ({esc(status_text(row))})"]
    for key in (*study.scientific_keys, *study.nuisance_keys):
        value = row.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            lines.append(f"{esc(key)} = {esc(value)}")
    if not pd.isna(row.get("objective")):
        lines.append(f"{esc(study.metric)} = {esc(float(row['objective']))}"
                     f" at step {esc(row['best_step'])}")
    return "<br>".join(lines)


def status_text(row: pd.Series) -> str:
    """'done', 'running', or 'diverged: collapsed' when the result gives a reason."""
    reason = row.get("reason")
    if isinstance(reason, str) and reason and reason != row["status"]:
        return f"{row['status']}: {reason}"
    return str(row["status"])


def wrapped(text: str, width: int = TITLE_WIDTH) -> str:
    """`text` (already escaped) in lines of at most `width` characters, broken at spaces:
    Plotly does not wrap titles, and a long one is cut at the figure's edge."""
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False,
                                     break_on_hyphens=False)) or text


def _layout(fig: go.Figure, title: str, **kwargs) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=12)), **_LAYOUT)
    fig.update_layout(**kwargs)
    return fig


# -- axis plots ------------------------------------------------------------------------


def axis_figure(study: Study, key: str) -> go.Figure:
    """Objective vs nuisance `key`, one colour per scientific value; infeasible trials as
    red crosses in a band above (minimize) or below (maximize) the feasible ones."""
    spec = study.spec.nuisance[key]
    branches = [b for _, b in spec.branches] if isinstance(spec, hp.Branches) else [spec]
    categories = plots._categories(branches)
    scale = _scale(branches)
    trials = load_lib.originals(study.trials)
    trials = trials[trials[key].notna()]
    done = trials[(trials["status"] == "done") & trials["objective"].notna()]
    palette = colors(study)
    fig = go.Figure()
    x_of = (lambda v: esc(v)) if categories else (lambda v: _x(float(v), scale))
    for label, group in done.groupby("label", sort=False):
        fig.add_trace(go.Scatter(
            x=[x_of(v) for v in group[key]], y=group["objective"].astype(float).tolist(),
            mode="markers", name=esc(label), marker=dict(color=palette.get(label), size=8),
            customdata=list(group["trial_id"]), hovertemplate="%{hovertext}<extra></extra>",
            hovertext=[hover(study, row) for _, row in group.iterrows()]))
    bad = trials[trials["status"].isin(load_lib.INFEASIBLE)]
    if len(bad):
        fig.add_trace(go.Scatter(
            x=[x_of(v) for v in bad[key]], y=[_infeasible_y(study, done)] * len(bad),
            mode="markers", name=f"infeasible ({len(bad)})",
            marker=dict(color=INFEASIBLE_COLOR, symbol="x", size=10),
            customdata=list(bad["trial_id"]), hovertemplate="%{hovertext}<extra></extra>",
            hovertext=[hover(study, row) for _, row in bad.iterrows()]))
    if categories:
        fig.update_xaxes(type="category", categoryorder="array",
                         categoryarray=[esc(c) for c in categories])
    else:
        _bounds(fig, spec, branches, scale, study, palette)
    hits = space_findings.boundary_hits(study.trials, study.spec.nuisance, study.goal, key,
                                     study.spec.context())
    title = esc(key)
    if hits:
        sides = sorted({"lower" if h["side"] == "low" else "upper" for h in hits})
        title += (f"<br><span style='color:firebrick'>WARNING: best trials near the "
                  f"{' and '.join(sides)} bound ({esc(', '.join(sorted({h['label'] for h in hits})))})"
                  f"</span>")
    _layout(fig, title, xaxis_title=esc(key) + (" (reverse log)" if scale == "reverse_log" else ""),
            yaxis_title=esc(study.metric))
    _log_y_if_spread(fig, done["objective"])
    return fig


def _scale(branches: Sequence[hp.Spec]) -> str:
    scales = {getattr(b, "scale", "linear") for b in branches}
    return scales.pop() if len(scales) == 1 else "linear"


def _x(value: float, scale: str) -> float:
    # Plotly has log axes but no reverse-log one: plot -log10(1 - x), labelled in x.
    if scale == "reverse_log":
        return float(-np.log10(max(1.0 - value, 1e-12)))
    return value


def _bounds(fig: go.Figure, spec, branches, scale: str, study: Study,
            palette: dict[str, str]) -> None:
    """Dashed vertical lines at each range's bounds, per branch in its value's colour."""
    for _, branch, color in plots.searched_ranges(spec, study, palette):
        for bound in space_findings.bounds(branch):
            fig.add_vline(x=_x(float(bound), scale), line=dict(color=color, dash="dash", width=1))
    if scale == "log":
        fig.update_xaxes(type="log")
    elif scale == "reverse_log":
        low, high = min(b.low for b in branches), max(b.high for b in branches)
        ticks = [low, *(1 - 10.0 ** -k for k in range(1, 7) if low < 1 - 10.0 ** -k < high),
                 high]
        fig.update_xaxes(tickvals=[_x(t, scale) for t in ticks],
                         ticktext=[f"{t:.6g}" for t in ticks])


def _infeasible_y(study: Study, done: pd.DataFrame) -> float:
    values = done["objective"].astype(float)
    if values.empty:
        return 1.0
    span = float(values.max() - values.min()) or abs(float(values.max())) or 1.0
    return (float(values.max()) + 0.15 * span if Goal.of(study.goal).minimize
            else float(values.min()) - 0.15 * span)


def _log_y_if_spread(fig: go.Figure, values) -> None:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() > 10:
        fig.update_yaxes(type="log")


# -- isolation plot --------------------------------------------------------------------


def isolation_figure(study: Study) -> go.Figure:
    """Best objective per scientific value (marker at the mean of the best trial and its
    reruns, error bar their std), every done trial faintly beside it."""
    palette = colors(study)
    done = load_lib.ranked(study.trials, study.goal)
    fig = go.Figure()
    labels = [esc(label) for label in study.labels]
    for label, scientific in zip(study.labels, study.spec.scientific_values()):
        mine = done[done["label"] == label]
        if len(mine):
            fig.add_trace(go.Box(
                x=[esc(label)] * len(mine), y=mine["objective"].astype(float).tolist(),
                boxpoints="all", jitter=0.4, pointpos=0, fillcolor="rgba(0,0,0,0)",
                line=dict(width=0), marker=dict(color=palette[label], opacity=0.35, size=6),
                name=f"{esc(label)}: done trials", showlegend=False, customdata=list(mine["trial_id"]),
                hovertemplate="%{hovertext}<extra></extra>",
                hovertext=[hover(study, row) for _, row in mine.iterrows()]))
        e = decisions.estimate(study.trials, scientific, study.goal)
        if e.trial_id is None:
            continue
        # The estimate is the mean of the best trial's seed reruns, never the trial itself
        # (it won a best-of-N selection); without reruns the trial is shown, hollow.
        note = (f"best trial {esc(e.trial_id)}: {e.best:.4g}<br>"
                + (f"mean {e.mean:.4g}" + (f" ± {e.std:.2g}" if e.std is not None else "")
                   + f" over {e.seeds} seed reruns (the trial excluded)"
                   if e.mean is not None else "no seed reruns"))
        fig.add_trace(go.Scatter(
            x=[esc(label)], y=[e.mean if e.mean is not None else e.best], mode="markers",
            name=esc(label),
            marker=dict(color=palette[label], size=13,
                        symbol="diamond" if e.mean is not None else "diamond-open"),
            error_y=dict(type="data", array=[e.std or 0.0], visible=True, thickness=2, width=8),
            customdata=[e.trial_id], hovertemplate="%{hovertext}<extra></extra>",
            hovertext=[note]))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    nuisance = esc(", ".join(study.nuisance_keys) or "none")
    title = wrapped(f"isolation plot: best per scientific value (nuisance tuned: {nuisance}); "
                    f"error bars: std of seed reruns")
    _layout(fig, title, yaxis_title=esc(study.metric), showlegend=False,
            margin=dict(l=60, r=20, t=40 + 16 * title.count("<br>") + 16, b=50))
    _log_y_if_spread(fig, done["objective"])
    return fig


# -- curves ----------------------------------------------------------------------------


def default_curve_trials(study: Study, top: int = 2) -> list[str]:
    """The `top` best trials of each scientific value."""
    return [tid for best in load_lib.best_few(study.trials, study.goal, top).values()
            for tid in best["trial_id"]]


def curves_figure(study: Study, trial_ids: Sequence[str],
                  metrics: Sequence[str] | None = None) -> go.Figure:
    """One panel per metric (default: train/loss and the study metric), one line per trial
    in its scientific value's colour; a circle at each trial's best step."""
    from plotly.subplots import make_subplots

    metrics = list(metrics or ("train/loss", study.metric))
    palette = colors(study)
    rows = study.trials.set_index("trial_id")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[esc(m) for m in metrics])
    for trial_id in trial_ids:
        if trial_id not in rows.index:
            continue
        row = rows.loc[trial_id]
        color = palette.get(row["label"], "grey")
        for col, metric in enumerate(metrics, start=1):
            steps, values = study.curve(trial_id, metric)
            if not len(steps):
                continue
            text = f"trial {esc(trial_id)} ({esc(row['label'])})"
            fig.add_trace(go.Scatter(
                x=steps.tolist(), y=[None if not math.isfinite(v) else v for v in values],
                mode="lines+markers", marker=dict(size=3), line=dict(color=color, width=1.5),
                name=text, legendgroup=trial_id, showlegend=col == 1,
                customdata=[trial_id] * len(steps),
                hovertemplate=f"{text}<br>step %{{x}}<br>{esc(metric)} = %{{y:.4g}}"
                              f"<extra></extra>"), row=1, col=col)
            best = row["best_step"]
            if metric == study.metric and not pd.isna(best) and float(best) in set(steps):
                y = float(values[list(steps).index(float(best))])
                fig.add_trace(go.Scatter(
                    x=[float(best)], y=[y], mode="markers", showlegend=False,
                    legendgroup=trial_id, hoverinfo="skip",
                    marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(color=color, width=2))),
                    row=1, col=col)
    _layout(fig, "training curves (circle: best step)", height=360)
    fig.update_xaxes(title_text="step")
    return fig


# -- parallel coordinates and importance -------------------------------------------------


def parallel_figure(study: Study) -> go.Figure:
    """Parallel coordinates of the done original trials: a dimension per scientific and
    nuisance key (log ranges on log10, categories coded) and the objective, coloured by it."""
    done = load_lib.ranked(study.trials, study.goal)
    dims = []
    for key in (*study.scientific_keys, *study.nuisance_keys):
        dim = _dimension(study, done, key)
        if dim is not None:
            dims.append(dim)
    objective = done["objective"].astype(float).tolist()
    dims.append(dict(label=esc(study.metric), values=objective))
    fig = go.Figure(go.Parcoords(
        dimensions=dims, labelangle=LABEL_ANGLE, labelside="top",
        line=dict(color=objective, colorscale="Viridis", showscale=True,
                  reversescale=Goal.of(study.goal).minimize,
                  colorbar=dict(title=dict(text=esc(study.metric)), x=1.08))))
    _layout(fig, wrapped(f"parallel coordinates of {len(done)} done trials, coloured by "
                         f"{esc(study.metric)} (brighter is better)"),
            margin=dict(l=80, r=120, t=150, b=30))
    return fig


def _dimension(study: Study, done: pd.DataFrame, key: str) -> dict[str, Any] | None:
    values = done[key]
    if values.isna().all() and len(done):
        return None
    numeric = pd.to_numeric(values, errors="coerce")
    spec = study.spec.nuisance.get(key)
    log = spec is not None and _scale(
        [b for _, b in spec.branches] if isinstance(spec, hp.Branches) else [spec]) == "log"
    if numeric.notna().sum() == values.notna().sum() and values.notna().any():
        if log and (numeric > 0).all():
            return dict(label=f"log10 {esc(key)}", values=np.log10(numeric).tolist())
        return dict(label=esc(key), values=numeric.tolist())
    categories = list(dict.fromkeys(str(v) for v in values))
    return dict(label=esc(key), values=[categories.index(str(v)) for v in values],
                tickvals=list(range(len(categories))), ticktext=[esc(c) for c in categories])


def importance_figure(study: Study) -> go.Figure:
    """Bars: each hyperparameter's share of the objective's variance explained by a random
    forest over the done trials (importance.py); an empty figure says why when too few."""
    result = importance_lib.importance(study)
    fig = go.Figure()
    if result.importances:
        names = list(result.importances)[::-1]
        fig.add_trace(go.Bar(x=[result.importances[n] for n in names], y=[esc(n) for n in names],
                             orientation="h", marker_color="#4878cf",
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    _layout(fig, f"hyperparameter importance ({esc(result.note)})",
            xaxis_title="importance (fit lost when the key is shuffled; sums to 1)",
            height=max(220, 60 + 35 * len(result.importances)))
    return fig
