"""The instability finding on trials tables: the effective learning rate lr / (1 - momentum)
separates unstable Nesterov trials where the learning rate alone does not (the numbers of
the MNIST-1D stability study, docs/VALIDITY.md), Adam's axis is its learning rate, and
ties give no threshold."""

import numpy as np
import pandas as pd
import pytest

from playbook.analysis import stability

# (learning_rate, momentum, status, reason, objective) of runs/stability, 16 trials.
STUDY = [
    (0.00198, 0.6423, "done", None, 0.654), (0.0627, 0.9943, "diverged", "collapsed", np.nan),
    (0.0112, 0.9549, "done", None, 0.372), (0.3527, 0.8207, "done", None, 0.326),
    (0.0047, 0.9972, "done", None, 0.356), (0.1487, 0.9774, "diverged", "collapsed", np.nan),
    (0.0264, 0.9101, "done", None, 0.376), (0.8363, 0.9986, "diverged", "loss_explosion", np.nan),
    (0.00129, 0.9887, "done", None, 0.388), (0.0407, 0.5498, "done", None, 0.394),
    (0.00724, 0.9929, "done", None, 0.346), (0.229, 0.9433, "diverged", "collapsed", np.nan),
    (0.00305, 0.7743, "done", None, 0.558), (0.0966, 0.9964, "diverged", "collapsed", np.nan),
    (0.0172, 0.9716, "done", None, 0.356), (0.5431, 0.8869, "diverged", "collapsed", np.nan),
]


def _table(rows, optimizer="nesterov"):
    return pd.DataFrame([{"trial_id": f"{i:04d}", "label": f"optimizer={optimizer}",
                          "optimizer": optimizer, "learning_rate": lr, "momentum": m,
                          "status": status, "reason": reason, "objective": objective,
                          "repeats": None}
                         for i, (lr, m, status, reason, objective) in enumerate(rows)])


def test_the_effective_learning_rate_separates_what_the_learning_rate_does_not():
    (finding,) = stability.instability(_table(STUDY), "minimize", {})
    assert finding.numbers["threshold"] == pytest.approx(0.229 / (1 - 0.9433))
    assert finding.numbers["last_stable"] == pytest.approx(0.3527 / (1 - 0.8207))
    assert finding.numbers["unstable"] == 6
    assert finding.numbers["reasons"] == {"collapsed": 5, "loss_explosion": 1}
    assert finding.numbers["best_trial"] == "0003" and finding.numbers["just_below"]
    assert finding.severity == "warning" and "warmup" in finding.recommendation
    # On the learning rate alone there is none: a trial at 0.35 trained, one at 0.063 collapsed.
    assert (max(r[0] for r in STUDY if r[2] == "done")
            > min(r[0] for r in STUDY if r[2] == "diverged"))


def test_for_adam_the_axis_is_the_learning_rate():
    rows = [(1e-3, 0.9, "done", None, 0.3), (3e-3, 0.9, "done", None, 0.32),
            (3e-2, 0.9, "diverged", "collapsed", np.nan), (1e-1, 0.9, "diverged", "non_finite",
                                                           np.nan)]
    (finding,) = stability.instability(_table(rows, "adam"), "minimize", {})
    assert finding.numbers["axis"] == "learning_rate"
    assert finding.numbers["threshold"] == 3e-2 and finding.numbers["ratio"] == pytest.approx(30)
    assert not finding.numbers["just_below"] and finding.severity == "info"


def test_trials_at_one_learning_rate_give_no_threshold():
    rows = [(0.1, 0.9, "diverged", "collapsed", np.nan)] * 2 + [(0.1, 0.9, "done", None, 0.3)]
    assert stability.instability(_table(rows), "minimize", {}) == []
