"""A real small study whose learning-rate range stops far below the optimum:
the analysis must flag its upper bound, and its report must reference every
figure and render in a browser."""

import os
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest
from test_plots_report import _Page

from playbook import cli
from playbook.analysis import diagnose
from playbook.analysis.load import Study

LOW_LR_STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"optimizer": ["nesterov"]}},
        # Far below the best learning rate of this workload (about 0.1): every
        # trial is still descending, faster the larger its learning rate.
        nuisance={{"learning_rate": hp.log(1e-4, 1e-3)}},
        fixed={{"momentum": 0.9, "max_train_steps": 60, "eval_every_steps": 30,
               "log_every_steps": 30}},
        metric="valid/loss",
        budget=8)
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("low_lr")
    config = root / "low_lr.py"
    baseline = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic_mlp.py")
    config.write_text(LOW_LR_STUDY.format(baseline=os.path.abspath(baseline)))
    workdir = str(root / "study")
    assert cli.main(["study", "--config", str(config), "--workdir", workdir,
                     "--no_progress"]) == 0  # writes the report when it finishes
    return Study.load(workdir)


def test_a_learning_rate_range_far_below_the_optimum_is_flagged_at_its_upper_bound(study):
    trials = study.trials.sort_values("objective")
    assert list(trials["status"]) == ["done"] * 8
    # The loss falls monotonically with the learning rate in this range ...
    assert trials["learning_rate"].is_monotonic_decreasing
    assert trials["learning_rate"].iloc[0] > 1e-4 * 10 ** 0.9  # outer 10% of the log range
    # ... so the best trial sits at the upper bound, and the analysis says so.
    (finding,) = [f for f in diagnose(study) if f.code == "boundary"]
    assert finding.severity == "warning"
    assert finding.numbers["key"] == "learning_rate" and finding.numbers["side"] == "high"
    assert finding.numbers["bound"] == pytest.approx(1e-3)
    assert trials["trial_id"].iloc[0] in finding.trials
    assert "expand the search space of 'learning_rate' above 0.001" in finding.recommendation


def test_the_report_of_the_study_references_every_figure_and_states_the_finding(study):
    report_dir = os.path.join(study.root, "report")
    page = _Page()
    with open(os.path.join(report_dir, "index.html")) as f:
        page.feed(f.read())
    pngs = {f for f in os.listdir(report_dir) if f.endswith(".png")}
    assert set(page.images) == pngs
    assert {"axis_learning_rate.png", "isolation.png", "training_curves.png",
            "best_steps.png"} <= pngs
    assert "upper bound 0.001 of 'learning_rate'" in page.text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
    "google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (Debian: apt-get install chromium)")
def test_the_report_renders_its_figures_in_headless_chromium(study, tmp_path):
    """The page with its figures and the same page with the figures removed must
    differ where the figures are drawn: the browser loads and paints them."""
    with_figures = tmp_path / "with"
    shutil.copytree(os.path.join(study.root, "report"), with_figures)
    without = tmp_path / "without"
    without.mkdir()
    shutil.copy(with_figures / "index.html", without / "index.html")
    shots = []
    for page in (with_figures, without):
        shot = tmp_path / f"{page.name}.png"
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1200,4000",
                        f"--screenshot={shot}", (page / "index.html").as_uri()],
                       check=True, capture_output=True, timeout=120)
        shots.append(matplotlib.image.imread(shot)[..., :3])
    rendered, bare = shots
    assert rendered.shape == bare.shape == (4000, 1200, 3)
    assert rendered.std() > 0.05  # not a blank page
    differs = np.any(np.abs(rendered - bare) > 0.1, axis=-1)
    assert differs.mean() > 0.02, "the figures are painted (identical renders differ nowhere)"
