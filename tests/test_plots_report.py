"""The figures (what they draw, not only that they draw) and the HTML report."""

import html.parser
import os

import matplotlib.colors
import numpy as np
import pytest
from matplotlib.figure import Figure
from test_analysis_load import write_study, write_trial

from playbook import analysis
from playbook import config as config_lib
from playbook.analysis import commands
from playbook.analysis.load import Study

NUISANCE = {
    "learning_rate": {"kind": "branches", "key": "optimizer", "branches": [
        ["nesterov", {"kind": "float", "low": 1e-3, "high": 1.0, "scale": "log"}],
        ["adamw", {"kind": "float", "low": 1e-4, "high": 1e-1, "scale": "log"}]]},
    "momentum": {"kind": "float", "low": 0.8, "high": 0.995, "scale": "reverse_log",
                 "when": {"optimizer": ["nesterov"]}},
    "model.activation": {"kind": "choice", "values": ["relu", "gelu"]},
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Six trials per optimizer (one diverged), the adamw best at its upper lr bound,
    and three seed reruns of each best trial."""
    root = write_study(tmp_path_factory.mktemp("plots") / "study", nuisance=NUISANCE,
                       budget=6)
    rng = np.random.default_rng(1)
    for p in range(6):
        u = (p + 0.5) / 6
        for s, (opt, low, high) in enumerate((("nesterov", 1e-3, 1.0), ("adamw", 1e-4, 1e-1))):
            nuisance = {"learning_rate": float(low * (high / low) ** u),
                        "model.activation": ["relu", "gelu"][p % 2]}
            if opt == "nesterov":
                nuisance["momentum"] = float(1 - 0.2 * (0.005 / 0.2) ** u)
            diverged = opt == "nesterov" and p == 5
            objective = 0.35 - 0.02 * p if opt == "adamw" else 0.3 + 0.02 * abs(p - 2)
            write_trial(root, f"{2 * p + s:04d}", {"optimizer": opt}, nuisance,
                        status="diverged" if diverged else "done", objective=objective,
                        best_step=int(rng.choice([100, 160, 200])))
    trials = Study.load(root).trials.set_index("trial_id")
    for original, opt, objective in (("0004", "nesterov", 0.3), ("0011", "adamw", 0.25)):
        trial = trials.loc[original]
        nuisance = {k: trial[k] for k in NUISANCE if not (isinstance(trial[k], float)
                                                          and np.isnan(trial[k]))}
        for j in range(1, 4):
            write_trial(root, f"{original}-seed{j}", {"optimizer": opt}, nuisance,
                        objective=objective + 0.004 * (j - 2), seed=j, repeats=original)
    return Study.load(root)


def _red(collection):
    return any(np.allclose(c[:3], matplotlib.colors.to_rgb("red"))
               for c in collection.get_edgecolors().tolist() + collection.get_facecolors().tolist())


def test_axis_plot_of_a_log_range_has_log_x_bounds_per_branch_and_red_crosses(study):
    fig = analysis.axis_plot(study, "learning_rate")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    bounds = sorted(line.get_xdata()[0] for line in ax.lines)
    assert bounds == [1e-4, 1e-3, 1e-1, 1.0]              # both branches' ranges
    crosses = [c for c in ax.collections if _red(c)]
    assert len(crosses) == 1 and len(crosses[0].get_offsets()) == 1
    points = sum(len(c.get_offsets()) for c in ax.collections if not _red(c))
    assert points == 11                                   # done originals, no reruns
    assert "WARNING" in ax.get_title() and "upper bound" in ax.get_title()
    assert "optimizer=adamw" in ax.get_title()


def test_axis_plot_without_best_trials_near_a_bound_has_a_plain_title(study):
    (ax,) = analysis.axis_plot(study, "momentum").axes
    assert ax.get_title() == "momentum"
    assert ax.get_xscale() == "function"                  # reverse_log: dense near 1


def test_axis_plot_of_a_choice_is_categorical(study):
    (ax,) = analysis.axis_plot(study, "model.activation").axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["relu", "gelu"]
    assert ax.get_xscale() == "linear" and not ax.lines   # no bounds for categories


def test_axis_plot_names_valid_keys_for_an_unknown_one(study):
    with pytest.raises(KeyError, match="nuisance keys: learning_rate, momentum"):
        analysis.axis_plot(study, "lr")


def test_isolation_plot_has_error_bars_from_the_reruns(study):
    (ax,) = analysis.isolation_plot(study).axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "optimizer=nesterov", "optimizer=adamw\n(baseline)"]
    # The fixture's three reruns of each best trial, written independently of the plot; the
    # best trials themselves are not counted (they won a best-of-N selection).
    runs = {0: [0.296, 0.3, 0.304], 1: [0.246, 0.25, 0.254]}
    bars = {}
    for container in ax.containers:  # one error bar per scientific value, with two caps
        (bar,) = container.lines[2]
        (segment,) = bar.get_segments()
        bars[segment[0][0]] = sorted(segment[:, 1])
        assert len(container.lines[1]) == 2
    assert sorted(bars) == [0, 1]
    for x, values in runs.items():
        low, high = bars[x]
        # The marker at the mean of the runs, the bar one std (ddof 1) either side of it.
        assert (low + high) / 2 == pytest.approx(np.mean(values))
        assert (high - low) / 2 == pytest.approx(np.std(values, ddof=1))
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "n=3" in texts                       # 3 reruns; the selecting trial is not counted
    assert "0.3\n±0.004" in texts                # their mean and std, not the trial's own 0.3


def test_training_curves_and_best_steps_draw_the_best_trials(study):
    ax_train, ax_valid = analysis.training_curves(study, top=2).axes
    assert len(ax_train.lines) == 4                       # 2 best x 2 optimizers
    (ax,) = analysis.best_step_plot(study).axes
    heights = sum(p.get_height() for p in ax.patches if p.get_width() == pytest.approx(0.05))
    assert heights == 11


def test_expected_validation_performance_plot_draws_each_value_with_its_band(study):
    from playbook.analysis import evp, evp_plots

    (ax,) = evp_plots.evp_plot(study).axes
    found = evp.curves(study.trials, study.goal, study.labels, seed=0)
    lines = {line.get_label(): line for line in ax.lines}
    assert set(lines) == {"optimizer=nesterov", "optimizer=adamw"}
    for label, line in lines.items():
        assert list(line.get_xdata()) == list(range(1, 7))   # n = 1..budget
        assert np.allclose(line.get_ydata(), found[label].mean)
    assert len(ax.collections) == 2                          # one band per value
    assert "Dodge et al. 2019" in ax.get_title()


def test_report_references_every_figure_and_writes_only_under_report(study, capsys):
    before = _files(study.root)
    stale = os.path.join(study.root, "report", "axis_removed_key.png")
    os.makedirs(os.path.dirname(stale), exist_ok=True)
    open(stale, "wb").close()
    assert commands.report(study.root) == 0
    out = capsys.readouterr().out
    assert "[warning] boundary" in out and "report/index.html" in out
    after = _files(study.root)
    assert {f for f in after - before if not f.startswith("report/")} == set()
    report_dir = os.path.join(study.root, "report")
    parser = _Page()
    with open(os.path.join(report_dir, "index.html")) as f:
        parser.feed(f.read())
    pngs = {f for f in os.listdir(report_dir) if f.endswith(".png")}
    assert set(parser.images) == pngs                     # every figure, nothing missing
    assert {"axis_learning_rate.png", "axis_momentum.png", "axis_model_activation.png",
            "isolation.png", "training_curves.png", "best_steps.png",
            "expected_validation_performance.png"} <= pngs
    text = parser.text()
    assert "Findings" in text and "boundary" in text and "Best trials" in text
    assert "playbook rerun" in text and "playbook adopt" in text
    config = [c for c in parser.code() if "report/configs/trial_0011.py" in c]
    assert config, "the command retraining adamw's best trial"
    trained = config_lib.load(os.path.join(report_dir, "configs", "trial_0011.py"))
    assert trained.optimizer == "adamw"


def _files(root):
    return {os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root)
            for f in files}


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self._text, self._pre, self._in_pre = [], [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_pre = self._in_pre or tag == "pre"

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        self._text.append(data)
        if self._in_pre:
            self._pre.append(data)

    def text(self):
        return " ".join(self._text)

    def code(self):
        return "".join(self._pre).splitlines()
