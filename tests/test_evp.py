"""Expected validation performance (Dodge et al. 2019) against exact enumeration, its
bootstrap bands and ranking changes; and `playbook compare` after `playbook rerun` on a
real (tiny) two-optimizer study: interval, runs per side, verdict, the selecting
trial never counted."""

import itertools
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from study_templates import two_optimizer_study

from playbook import cli
from playbook.analysis import evp
from playbook.analysis.load import Study


def _enumerated(values, n, best):
    """The mean of `best` over every ordered n-tuple of draws: the exact expectation."""
    return np.mean([best(draw) for draw in itertools.product(values, repeat=n)])


@pytest.mark.parametrize("goal, best", [("minimize", min), ("maximize", max)])
def test_expected_best_equals_the_mean_over_every_draw(goal, best):
    values = np.array([0.41, 0.35, 0.52, 0.35, 0.9])
    got = evp.expected_best(values, goal, 4)
    assert got == pytest.approx([_enumerated(values, n, best) for n in range(1, 5)])
    assert got[0] == pytest.approx(values.mean())  # one trial: the mean


def _table(rows):
    return pd.DataFrame([{"trial_id": f"{i:04d}", "label": label, "status": status,
                          "objective": value, "repeats": None}
                         for i, (label, status, value) in enumerate(rows)])


def test_an_infeasible_trial_counts_as_the_worst_feasible_objective():
    rows = [("a", "done", 0.3), ("a", "diverged", np.nan), ("b", "done", 0.5), ("b", "done", 0.4)]
    found = evp.curves(_table(rows), "minimize", ["a", "b"], seed=0)
    assert found["a"].infeasible == 1 and found["a"].trials == 2
    assert found["a"].mean == pytest.approx(evp.expected_best([0.3, 0.5], "minimize", 2))


def test_a_spread_out_value_overtakes_a_steady_one_as_the_budget_grows():
    # 'risky' is usually bad but sometimes best; 'steady' is always middling (Choi et al. 2019).
    rows = ([("steady", "done", 0.40 + 0.001 * i) for i in range(8)]
            + [("risky", "done", v) for v in (0.30, 0.32, 0.6, 0.7, 0.7, 0.8, 0.8, 0.9)])
    found = evp.curves(_table(rows), "minimize", ["steady", "risky"], seed=0)
    order = evp.ranking(found, "minimize")
    assert order.leaders[0] == "steady" and order.leaders[-1] == "risky"
    steady, risky = ([v for label, _, v in rows if label == name] for name in ("steady", "risky"))
    flip = next(n for n in range(1, 9) if _enumerated(risky, n, min) < _enumerated(steady, n, min))
    assert order.flips == [(flip, "risky")]
    for c in found.values():
        assert np.all(c.low <= c.mean + 1e-12) and np.all(c.mean <= c.high + 1e-12)
    assert found["steady"].high[-1] - found["steady"].low[-1] < 0.01  # steady: a narrow band


def test_compare_after_rerun_counts_only_the_reruns(tmp_path, capsys):
    workdir = str(tmp_path / "study")
    config = two_optimizer_study(tmp_path / "study.py", budget=3, steps=80, every=40)
    assert cli.main(["study", "--config", config, "--workdir", workdir, "--no_progress",
                     "--no_report"]) == 0
    assert cli.main(["rerun", workdir, "--top", "1", "--seeds", "3", "--no_progress"]) == 0
    capsys.readouterr()
    assert cli.main(["compare", workdir]) == 0
    out = capsys.readouterr().out
    trials = Study.load(workdir).trials
    for label in ("optimizer=nesterov", "optimizer=adamw"):
        best = trials[trials["label"] == label].sort_values("objective").iloc[0]
        reruns = trials[trials["repeats"] == best["trial_id"]]["objective"].to_numpy(float)
        line = next(x for x in out.splitlines() if x.strip().startswith(label))
        assert f"{reruns.mean():.4g} ± {reruns.std(ddof=1):.2g} over 3 seed reruns" in line
        assert f"trial {best['trial_id']} scored {best['objective']:.4g} when selected" in line
    line = next(x for x in out.splitlines() if x.strip().startswith("optimizer=nesterov:"))
    assert re.search(r"95% CI of the improvement \[[-+]\S+, [-+]\S+\] \(Welch, 3 vs 3 runs\); "
                     r"the interval (excludes 0: (better|worse)|contains 0: inconclusive)", line)
    assert "expected best valid/error_rate after n trials" in out and "n=3" in out
    with open(os.path.join(workdir, "study.json")) as f:
        assert json.load(f)["spec"]["budget"] == 3
