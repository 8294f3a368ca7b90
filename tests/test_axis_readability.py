"""Axis plots are readable for every scale: the x limits are the searched range plus a
small margin, the points spread over most of the width, and no two tick labels
touch. Checked on the figure objects (drawn, with the renderer's text extents)."""

import numpy as np
import pytest
from test_analysis_load import write_study, write_trial

from playbook import analysis
from playbook import search as hp
from playbook.analysis import plots
from playbook.analysis.load import Study

SPECS = {
    "momentum": hp.reverse_log(0.5, 0.999),
    "learning_rate": hp.log(1e-3, 1.0),
    "model.dropout": hp.linear(0.0, 0.5),
    "model.width": hp.int_range(16, 256, "log"),
    "batch_size": hp.discrete([16, 32, 64, 128, 256, 512]),
    "model.activation": hp.choice(["relu", "gelu", "tanh"]),
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """16 trials whose values are spread uniformly in each spec's own scale (as Halton
    spreads them), one scientific value."""
    root = write_study(tmp_path_factory.mktemp("axes") / "s",
                       scientific={"optimizer": ["nesterov"]},
                       nuisance={k: s.to_dict() for k, s in SPECS.items()}, budget=16)
    rng = np.random.default_rng(0)
    for i in range(16):
        u = (i + 0.5) / 16
        nuisance = {k: s.from_unit((u + 0.37 * j) % 1.0) for j, (k, s) in enumerate(SPECS.items())}
        write_trial(root, f"{i:04d}", {"optimizer": "nesterov"}, nuisance,
                    objective=float(rng.uniform(0.3, 0.6)))
    return Study.load(root)


def _drawn(study, key):
    fig = analysis.axis_plot(study, key)
    fig.canvas.draw()
    return fig, fig.axes[0], fig.canvas.get_renderer()


def _labels(ax, renderer):
    """Visible tick labels (inside the x limits) and their extents."""
    low, high = sorted(ax.get_xlim())
    ticks = [(t, label) for t, label in zip(ax.get_xticks(), ax.get_xticklabels())
             if low <= t <= high and label.get_text()]
    return [label.get_text() for _, label in ticks], [label.get_window_extent(renderer)
                                                      for _, label in ticks]


@pytest.mark.parametrize("key", list(SPECS))
def test_points_spread_over_the_width_and_tick_labels_never_touch(study, key):
    fig, ax, renderer = _drawn(study, key)
    points = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections
                             if "infeasible" not in str(c.get_label())])
    x = ax.transData.transform(np.c_[points, np.ones_like(points)])[:, 0]
    width = ax.get_window_extent(renderer).width
    # Categories sit at the centres of equal slots: (n - 1) / n of the width for n of them.
    assert (x.max() - x.min()) / width > (0.6 if key == "model.activation" else 0.75)
    texts, boxes = _labels(ax, renderer)
    assert len(texts) >= 2
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (texts[i], texts[j])


def test_reverse_log_ticks_are_the_nines_spread_over_the_width(study):
    fig, ax, renderer = _drawn(study, "momentum")
    texts, boxes = _labels(ax, renderer)
    assert texts == ["0.5", "0.9", "0.99", "0.999"]
    centres = np.array([(b.x0 + b.x1) / 2 for b in boxes])
    assert np.ptp(np.diff(centres)) / np.mean(np.diff(centres)) < 0.35  # about evenly spaced
    low, high = ax.get_xlim()
    assert 0.3 < low < 0.5 and 0.999 < high < 0.9993  # the range plus a 4% margin, in scale


@pytest.mark.parametrize("key, low, high", [
    ("learning_rate", 1e-3, 1.0), ("model.dropout", 0.0, 0.5), ("batch_size", 16, 512)])
def test_x_limits_are_the_searched_range_plus_a_small_margin(study, key, low, high):
    _, ax, _ = _drawn(study, key)
    forward, _ = plots._SCALES["log" if ax.get_xscale() == "log" else "linear"]
    a, b = (float(forward(v)) for v in (low, high))
    left, right = (float(forward(v)) for v in ax.get_xlim())
    assert left == pytest.approx(a - plots.X_MARGIN * (b - a))
    assert right == pytest.approx(b + plots.X_MARGIN * (b - a))
