"""What every matplotlib figure of a study shares: a new figure of the report's size,
one colour per scientific value, and the colour of infeasible trials.

The drawing modules (plots.py, evp_plots.py, scaling_plots.py) import this one and
never each other's figures, so none of them depends on the module that assembles
all figures (`plots.figures`). No drawing of its own here.
"""

from __future__ import annotations

from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from playbook.analysis.load import Study

INFEASIBLE_COLOR = "red"
_COLORS = matplotlib.colormaps["tab10"].colors


def new_figure(width: float = 6.4, height: float = 4.2) -> Figure:
    """An empty figure with a canvas (no pyplot state), laid out to fit its labels."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def colors(study: Study) -> dict[str, Any]:
    """One colour per scientific value, stable across figures."""
    return {label: _COLORS[i % len(_COLORS)] for i, label in enumerate(study.labels)}
