"""The dashboard's Plotly figures: what they draw (points, hover, bounds, error bars,
colours, importance), checked against the trials table computed independently."""

import json
import math

import numpy as np
import pytest
from dashboard_studies import XSS, hostile_study
from test_analysis_load import NUISANCE as LR_WD
from test_analysis_load import write_study, write_trial
from test_plots_report import study  # noqa: F401 - the module-scoped study fixture

from playbook.analysis.load import Study
from playbook.dashboard import figures, importance


def _traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_axis_figure_hover_names_each_trial_and_marks_infeasible_trials(study):  # noqa: F811
    fig = figures.axis_figure(study, "learning_rate")
    trials = study.trials[study.trials["repeats"].isna()].set_index("trial_id")
    done = trials[trials["status"] == "done"]
    points = {tid: (x, y) for name in ("optimizer=nesterov", "optimizer=adamw")
              for t in _traces(fig, name) for tid, x, y in zip(t.customdata, t.x, t.y)}
    assert set(points) == set(done.index)                  # every done original, no reruns
    for tid, (x, y) in points.items():
        assert x == pytest.approx(done.loc[tid, "learning_rate"])
        assert y == pytest.approx(done.loc[tid, "objective"])
    (bad,) = _traces(fig, "infeasible (1)")
    assert list(bad.customdata) == ["0010"] and bad.marker.symbol == "x"
    assert bad.marker.color == "red"
    assert bad.y[0] > done["objective"].max()              # above every feasible point
    (adamw,) = _traces(fig, "optimizer=adamw")
    hover = adamw.hovertext[list(adamw.customdata).index("0011")]
    assert "trial 0011" in hover and "optimizer = adamw" in hover
    assert f"learning_rate = {done.loc['0011', 'learning_rate']:.4g}" in hover
    assert "valid/error_rate = 0.25" in hover
    assert fig.layout.xaxis.type == "log"
    assert sorted(s.x0 for s in fig.layout.shapes) == pytest.approx([1e-4, 1e-3, 1e-1, 1.0])
    assert "WARNING" in fig.layout.title.text and "upper bound" in fig.layout.title.text


def test_axis_figure_of_a_reverse_log_range_plots_minus_log10_of_one_minus_x(study):  # noqa: F811
    fig = figures.axis_figure(study, "momentum")
    (nesterov,) = _traces(fig, "optimizer=nesterov")
    momentum = study.trials.set_index("trial_id")["momentum"]
    for tid, x in zip(nesterov.customdata, nesterov.x):
        assert x == pytest.approx(-math.log10(1 - momentum[tid]))
    assert fig.layout.xaxis.ticktext[0] == "0.8" and fig.layout.xaxis.ticktext[-1] == "0.995"


def test_isolation_figure_error_bars_are_the_std_of_the_best_trials_reruns(
        study):  # noqa: F811
    fig = figures.isolation_figure(study)
    trials = study.trials.set_index("trial_id")
    # The selecting trial 0011 is not counted: it won a best-of-N selection.
    group = trials.loc[["0011-seed1", "0011-seed2", "0011-seed3"], "objective"]
    (adamw,) = [t for t in fig.data if t.type == "scatter" and t.name == "optimizer=adamw"]
    assert adamw.y[0] == pytest.approx(float(np.mean(group)))
    assert adamw.error_y.array[0] == pytest.approx(float(np.std(group, ddof=1)))
    assert list(adamw.customdata) == ["0011"]


def test_parallel_coordinates_have_a_dimension_per_key_and_colour_by_the_objective(
        study):  # noqa: F811
    (trace,) = figures.parallel_figure(study).data
    labels = [d.label for d in trace.dimensions]
    assert labels == ["optimizer", "log10 learning_rate", "momentum", "model.activation",
                      "valid/error_rate"]
    objective = trace.dimensions[-1].values
    assert list(trace.line.color) == list(objective) and len(objective) == 11
    lrs = sorted(study.trials.query("status == 'done' and repeats.isna()")["learning_rate"])
    assert sorted(trace.dimensions[1].values) == pytest.approx(np.log10(lrs))
    assert list(trace.dimensions[3].ticktext) == ["relu", "gelu"] or list(
        trace.dimensions[3].ticktext) == ["gelu", "relu"]


@pytest.fixture(scope="module")
def lr_driven(tmp_path_factory):
    """16 trials whose objective depends on the learning rate only (weight decay is noise)."""
    root = write_study(tmp_path_factory.mktemp("importance") / "study", nuisance=LR_WD)
    rng = np.random.default_rng(0)
    for i in range(16):
        lr, wd = 10 ** rng.uniform(-4, -1), 10 ** rng.uniform(-6, -2)
        write_trial(root, f"{i:04d}", {"optimizer": "adamw"},
                    {"learning_rate": lr, "weight_decay": wd},
                    objective=0.2 + 0.05 * (math.log10(lr) + 2.5) ** 2)
    return Study.load(root)


def test_importance_puts_the_hyperparameter_that_drives_the_objective_first(lr_driven):
    result = importance.importance(lr_driven)
    assert list(result.importances) == ["learning_rate", "weight_decay"]  # optimizer is fixed
    assert result.importances["learning_rate"] > 3 * result.importances["weight_decay"]
    assert sum(result.importances.values()) == pytest.approx(1.0)
    (bars,) = figures.importance_figure(lr_driven).data
    assert list(bars.y) == ["weight_decay", "learning_rate"]            # largest on top


def test_importance_needs_enough_done_trials(lr_driven):
    few = Study(root=lr_driven.root, spec=lr_driven.spec, trials=lr_driven.trials.head(3),
                curves=lr_driven.curves)
    result = importance.importance(few)
    assert result.importances == {} and "needs 5 done trials" in result.note


def test_curves_figure_draws_the_chosen_trials_with_their_best_step(study):  # noqa: F811
    fig = figures.curves_figure(study, ["0011", "0004", "no-such"])
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert sorted({t.legendgroup for t in lines}) == ["0004", "0011"]
    steps, values = study.curve("0011", "valid/error_rate")
    (valid,) = [t for t in lines if t.legendgroup == "0011" and t.xaxis == "x2"]
    assert list(valid.x) == list(steps) and list(valid.y) == pytest.approx(list(values))
    best = study.trials.set_index("trial_id").loc["0011", "best_step"]
    circles = [t for t in fig.data if t.mode == "markers" and t.legendgroup == "0011"]
    assert [c.x[0] for c in circles] == [best]


def test_every_string_from_the_study_is_escaped_in_the_figures(tmp_path):
    hostile = Study.load(hostile_study(tmp_path / "study"))
    text = json.dumps([json.loads(figures.to_json(f)) for f in figures.figures(hostile).values()])
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert XSS not in text
