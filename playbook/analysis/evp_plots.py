"""The expected-validation-performance figure: per scientific value, the expected best
objective after n trials with its bootstrap band (the curves: evp.py), and a
note where the ranking changes with n. Drawn with figure_style.py's helpers."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from playbook.analysis import evp
from playbook.analysis import load as load_lib
from playbook.analysis.figure_style import colors, new_figure
from playbook.analysis.load import Study


def evp_plot(study: Study | str | os.PathLike) -> Figure:
    """Expected best objective after n = 1..budget trials per scientific value (Dodge et
    al. 2019), with 95% bootstrap bands; the title says where the ranking flips and
    whether the bands overlap at the study's budget."""
    study = load_lib.as_study(study)
    palette = colors(study)
    found = evp.curves(study.trials, study.goal, study.labels, seed=0)
    fig = new_figure()
    ax = fig.add_subplot()
    for label, c in found.items():
        ax.plot(c.n, c.mean, marker=".", color=palette.get(label), label=label, zorder=3)
        ax.fill_between(c.n, c.low, c.high, color=palette.get(label), alpha=0.18, lw=0)
    order = evp.ranking(found, study.goal)
    note = ""
    if order is not None:
        note = ("\nranking flips at n = " + ", ".join(str(n) for n, _ in order.flips)
                if order.flips else "\nsame leader at every n")
        note += ("; bands overlap at the budget: inconclusive" if order.overlap_at_budget
                 else "; bands apart at the budget")
    ax.set(xlabel="trials n (tuning budget)", ylabel=f"expected best {study.metric}",
           title=f"expected validation performance (Dodge et al. 2019), 95% bootstrap "
                 f"bands{note}")
    ax.title.set_fontsize(8)
    if found:
        ax.set_xlim(0.8, max(len(c.mean) for c in found.values()) + 0.2)
        ax.legend(fontsize=7)
    return fig
