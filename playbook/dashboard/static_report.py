"""The interactive figures of the static report: report/plotly.min.js, report/figures.js and
the HTML that places them.

The figures are the dashboard's own (figures.py), written as data into
figures.js next to index.html with plotly.min.js from the plotly package, so
the report folder opens from disk with no network and no server. Each file is
written atomically; nothing outside the report folder is touched.
"""

from __future__ import annotations

import html
import json
import os

from playbook import atomic
from playbook.analysis.load import Study
from playbook.dashboard import figures

PLOTLY_FILE = "plotly.min.js"
FIGURES_FILE = "figures.js"

_DRAW = """
for (const [name, fig] of Object.entries(PLAYBOOK_FIGURES)) {
  const div = document.getElementById("plotly-" + name);
  if (div && window.Plotly) {
    Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
  }
}
"""


def write(study: Study, out: str) -> str:
    """Writes plotly.min.js and figures.js into `out`; returns the HTML of the figures."""
    from playbook.dashboard.server import plotly_js

    built = {}
    for name, fig in figures.figures(study).items():
        built[name] = json.loads(figures.to_json(fig))
    atomic.write_bytes(os.path.join(out, PLOTLY_FILE), plotly_js(), fsync=False, if_changed=True)
    script = f"const PLAYBOOK_FIGURES = {json.dumps(built)};\n{_DRAW}"
    atomic.write_text(os.path.join(out, FIGURES_FILE), script, fsync=False, if_changed=True)
    divs = "\n".join(f"<div class='plotly-figure' id='plotly-{html.escape(name)}' "
                     f"data-figure='{html.escape(name)}'></div>" for name in built)
    return (f"<p>Hover over a point for the trial's values and id; drag to zoom, double-click "
            f"to reset.</p>\n{divs}\n<script src='{PLOTLY_FILE}'></script>\n"
            f"<script src='{FIGURES_FILE}'></script>")
