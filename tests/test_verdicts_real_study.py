"""The verdicts on a real (tiny, synthetic) study that is messy on purpose: Nesterov at a
fixed high learning rate with momentum searched over reverse_log [0, 0.999]. High
momentum diverges or collapses; the best trial sits at the natural limit of
momentum. Infeasible trials carry their reason and are kept out of every ranking,
the instability finding gives the effective learning-rate threshold, and no
finding proposes momentum below 0."""

import json
import os

import pytest
from study_templates import BASELINE

from playbook import cli
from playbook.analysis import diagnose, load
from playbook.analysis import plots as plots_lib
from playbook.analysis.load import Study

STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"optimizer": ["nesterov"]}},
        nuisance={{"momentum": hp.reverse_log(0.0, 0.999)}},
        fixed={{"learning_rate": 0.5, "schedule": "constant", "max_train_steps": 200,
               "eval_every_steps": 50, "log_every_steps": 10}},
        budget=6)
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messy")
    config = tmp / "study.py"
    config.write_text(STUDY.format(baseline=BASELINE))
    assert cli.main(["study", "--config", str(config), "--workdir", str(tmp / "s"),
                     "--no_progress", "--no_report"]) == 0
    return Study.load(tmp / "s")


def _results(study):
    out = {}
    for trial_id in study.trials["trial_id"]:
        with open(os.path.join(study.root, "trials", trial_id, "result.json")) as f:
            out[trial_id] = json.load(f)
    return out


def test_infeasible_trials_carry_their_reason_and_rank_nowhere(study):
    results = _results(study)
    infeasible = {t for t, r in results.items() if r["status"] == "diverged"}
    assert len(infeasible) >= 2
    assert all(results[t]["reason"] in ("non_finite", "loss_explosion", "collapsed",
                                        "at_chance") for t in infeasible)
    assert set(load.ranked(study.trials, study.goal)["trial_id"]).isdisjoint(infeasible)
    (finding,) = [f for f in diagnose(study) if f.code == "infeasible"]
    reasons = [results[t]["reason"] for t in infeasible]
    assert finding.numbers["reasons"] == {r: reasons.count(r) for r in set(reasons)}


def test_the_instability_finding_gives_the_effective_learning_rate_threshold(study):
    results = _results(study)
    momentum = dict(zip(study.trials["trial_id"], study.trials["momentum"]))
    effective = {t: 0.5 / (1 - m) for t, m in momentum.items()}
    stable = max(effective[t] for t, r in results.items() if r["status"] == "done")
    above = [e for t, e in effective.items() if e > stable]
    assert all(results[t]["status"] == "diverged" for t, e in effective.items() if e > stable)
    (finding,) = [f for f in diagnose(study) if f.code == "instability"]
    assert finding.numbers["threshold"] == pytest.approx(min(above))
    assert finding.numbers["last_stable"] == pytest.approx(stable)
    assert finding.numbers["axis"] == "lr / (1 - momentum)"
    assert finding.numbers["just_below"] and "warmup" in finding.recommendation


def test_the_momentum_threshold_of_the_same_trials_is_folded_into_the_instability(study):
    # Before, the same infeasible trials were a divergence_threshold warning on momentum
    # and an instability warning, with overlapping advice: now one finding, the cause.
    findings = diagnose(study)
    (instability,) = [f for f in findings if f.code == "instability"]
    assert "divergence_threshold" not in [f.code for f in findings]
    (momentum,) = instability.related
    assert momentum.code == "divergence_threshold" and momentum.numbers["key"] == "momentum"
    assert set(momentum.trials) <= set(instability.trials)
    assert f"with momentum >= {momentum.numbers['threshold']:.3g} is infeasible" in \
        instability.message


def test_a_best_momentum_at_zero_is_at_the_natural_limit_and_nothing_expands(study):
    best = load.ranked(study.trials, study.goal).iloc[0]
    assert best["momentum"] < 0.5  # the low 10% of reverse_log [0, 0.999]
    findings = diagnose(study)
    (boundary,) = [f for f in findings if f.code == "boundary"]
    assert boundary.numbers["at_limit"] and boundary.numbers["limit"] == 0.0
    assert boundary.numbers["new_low"] is None and boundary.severity == "info"
    assert "no expansion" in boundary.recommendation
    assert not any("below 0" in f.recommendation or "expand" in f.recommendation
                   for f in findings if f.code == "boundary")
    (ax,) = plots_lib.axis_plot(study, "momentum").axes
    assert "natural limit" in ax.get_title() and "WARNING" not in ax.get_title()
