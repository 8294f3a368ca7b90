"""Comparing scientific values against the baseline beyond trial variance, and adopting
one as the next round's baseline with its evidence recorded."""

import json
import math
import os
import re

import numpy as np
import pytest
import scipy.stats
from ml_collections import ConfigDict
from study_templates import BASELINE
from test_analysis_load import write_study, write_trial

from playbook import cli
from playbook import config as config_lib
from playbook.analysis import commands, decisions, diagnose, plots
from playbook.analysis import report as report_lib
from playbook.analysis.load import Study
from playbook.dashboard import state
from playbook.errors import ConfigError

LR = {"learning_rate": 1e-3, "weight_decay": 1e-4}


def _study(tmp_path, adamw, nesterov, adamw_reruns=(), nesterov_reruns=(), goal="minimize"):
    """Baseline optimizer is adamw (configs/synthetic_mlp.py); best trials 0000 / 0001."""
    root = write_study(tmp_path / "s", goal=goal, budget=10)
    write_trial(root, "0000", {"optimizer": "adamw"}, LR, objective=adamw)
    write_trial(root, "0001", {"optimizer": "nesterov"}, {**LR, "learning_rate": 0.05},
                objective=nesterov)
    write_trial(root, "0002", {"optimizer": "nesterov"}, {**LR, "learning_rate": 0.5},
                status="diverged")
    for j, value in enumerate(adamw_reruns, start=1):
        write_trial(root, f"0000-seed{j}", {"optimizer": "adamw"}, LR, objective=value,
                    seed=j, repeats="0000")
    for j, value in enumerate(nesterov_reruns, start=1):
        write_trial(root, f"0001-seed{j}", {"optimizer": "nesterov"},
                    {**LR, "learning_rate": 0.05}, objective=value, seed=j, repeats="0001")
    return root


def _compare(root):
    study = Study.load(root)
    return {c.value.label: c for c in decisions.compare_values(study.trials, study.spec)}


def _welch(value, baseline, level=0.95):
    """The Welch interval of mean(baseline) - mean(value), from its formula."""
    a, b = np.asarray(baseline), np.asarray(value)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = scipy.stats.t.ppf((1 + level) / 2, dof) * math.sqrt(va + vb)
    d = a.mean() - b.mean()
    return d, d - half, d + half


def test_without_reruns_there_is_no_verdict_and_compare_says_how_to_get_one(tmp_path, capsys):
    root = _study(tmp_path, adamw=0.20, nesterov=0.25, nesterov_reruns=[0.26, 0.25, 0.27])
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.verdict == "no_reruns" and comparison.low is None
    assert commands.compare(root) == 0
    out = capsys.readouterr().out
    assert ("optimizer=adamw (baseline): trial 0000 scored 0.2 when selected (not counted); "
            "no done seed reruns") in out
    assert "fewer than 2 done seed reruns of optimizer=adamw" in out
    assert f"playbook rerun {os.path.abspath(root)} --top 1 --seeds 5" in out


def test_the_estimate_is_the_mean_of_the_reruns_without_the_selecting_trial(tmp_path):
    # The selected trial's 0.10 is the luck of the best of N: its reruns score 0.2-0.3.
    root = _study(tmp_path, adamw=0.25, nesterov=0.10, adamw_reruns=[0.24, 0.26, 0.25],
                  nesterov_reruns=[0.30, 0.20, 0.25, 0.29])
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.value.values == (0.30, 0.20, 0.25, 0.29)
    assert comparison.value.mean == pytest.approx(np.mean([0.30, 0.20, 0.25, 0.29]))
    assert comparison.value.best == 0.10 and comparison.value.seeds == 4
    d, low, high = _welch([0.30, 0.20, 0.25, 0.29], [0.24, 0.26, 0.25])
    assert (comparison.difference, comparison.low, comparison.high) == pytest.approx((d, low, high))
    assert comparison.verdict == "inconclusive" and low < 0 < high
    assert "(Welch, 4 vs 3 runs); the interval contains 0: inconclusive" in comparison.sentence()


def test_an_interval_above_zero_is_better_and_below_zero_worse(tmp_path):
    root = _study(tmp_path, adamw=0.25, nesterov=0.20, adamw_reruns=[0.251, 0.249, 0.252],
                  nesterov_reruns=[0.202, 0.198, 0.201])
    comparison = _compare(root)["optimizer=nesterov"]
    d, low, high = _welch([0.202, 0.198, 0.201], [0.251, 0.249, 0.252])
    assert comparison.verdict == "better" and comparison.low == pytest.approx(low) and low > 0
    assert "excludes 0: better than the baseline" in comparison.sentence()
    root = _study(tmp_path / "w", adamw=0.20, nesterov=0.25, adamw_reruns=[0.201, 0.199, 0.2],
                  nesterov_reruns=[0.252, 0.249, 0.251])
    assert _compare(root)["optimizer=nesterov"].verdict == "worse"


def test_an_infeasible_rerun_is_reported_and_left_out(tmp_path):
    root = _study(tmp_path, adamw=0.25, nesterov=0.20, adamw_reruns=[0.251, 0.249],
                  nesterov_reruns=[0.202, 0.198])
    write_trial(root, "0001-seed3", {"optimizer": "nesterov"}, {**LR, "learning_rate": 0.05},
                status="diverged", seed=3, repeats="0001")
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.value.seeds == 2 and comparison.value.infeasible == 1
    assert "over 2 seed reruns, 1 infeasible" in comparison.sentence()


SPREAD = 0.01  # each side: three reruns at m - SPREAD, m, m + SPREAD (mean m, std SPREAD)
# The 95% Welch half-width of two such sides: t(0.975, 4 dof) x sqrt(2 / 3) x SPREAD.
HALF = scipy.stats.t.ppf(0.975, 4) * math.sqrt(2 / 3) * SPREAD


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
@pytest.mark.parametrize("improvement, verdict", [
    (1.02 * HALF, "better"), (0.98 * HALF, "inconclusive"),
    (-0.98 * HALF, "inconclusive"), (-1.02 * HALF, "worse")])
def test_the_verdict_turns_where_the_interval_crosses_zero_on_both_sides(tmp_path, goal,
                                                                         improvement, verdict):
    sign = 1 if goal == "maximize" else -1
    base, value = 0.5, 0.5 + sign * improvement
    root = _study(tmp_path, adamw=base - 0.1 * sign, nesterov=value, goal=goal,
                  adamw_reruns=[base - SPREAD, base, base + SPREAD],
                  nesterov_reruns=[value - SPREAD, value, value + SPREAD])
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.difference == pytest.approx(improvement)
    assert comparison.high - comparison.low == pytest.approx(2 * HALF)
    assert comparison.verdict == verdict


def test_for_a_maximized_metric_higher_is_better(tmp_path):
    root = _study(tmp_path, adamw=0.80, nesterov=0.90, adamw_reruns=[0.80, 0.81, 0.79],
                  nesterov_reruns=[0.90, 0.91, 0.89], goal="maximize")
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.difference == pytest.approx(0.1) and comparison.verdict == "better"


def test_the_first_value_is_the_reference_when_the_baseline_value_is_not_compared(tmp_path):
    root = write_study(tmp_path / "s", scientific={"optimizer": ["sgd", "momentum"]})
    write_trial(root, "0000", {"optimizer": "sgd"}, LR, objective=0.3)
    write_trial(root, "0001", {"optimizer": "momentum"}, LR, objective=0.2)
    comparisons = _compare(root)
    assert comparisons["optimizer=sgd"].verdict == "baseline"
    assert comparisons["optimizer=momentum"].baseline.label == "optimizer=sgd"


# Widths 16 and 64 of the synthetic MLP (baseline width 32: not among them), with a
# learning-rate range set too high: both best trials take its lowest point (Halton's
# first, 0.099 of the way up the log range), near the lower bound.
WIDTH_STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"model.width": [16, 64]}},
        nuisance={{"learning_rate": hp.log(0.03, 3.0)}},
        fixed={{"max_train_steps": 60, "eval_every_steps": 20, "log_every_steps": 20}},
        budget=2)
"""


@pytest.fixture(scope="module")
def width_study(tmp_path_factory):
    """The real study above, with two seed reruns of each width's best trial."""
    tmp = tmp_path_factory.mktemp("widths")
    (tmp / "study.py").write_text(WIDTH_STUDY.format(baseline=BASELINE))
    root = str(tmp / "s")
    assert cli.main(["study", "--config", str(tmp / "study.py"), "--workdir", root,
                     "--no_progress", "--no_report"]) == 0
    assert cli.main(["rerun", root, "--top", "1", "--seeds", "2", "--no_progress"]) == 0
    return Study.load(root)


@pytest.mark.slow
def test_compare_names_the_reference_when_the_baseline_value_is_not_in_the_study(
        width_study, capsys):
    capsys.readouterr()
    assert cli.main(["compare", width_study.root]) == 0
    out = capsys.readouterr().out
    first, reference, other = out.splitlines()[:3]
    assert first.endswith("; reference: the first value, model.width=16; the baseline's 32 "
                          "is not in the study")
    assert reference.startswith("  model.width=16 (reference): ")
    assert other.startswith("  model.width=64: ") and " than reference " in other
    assert "(Welch, 2 vs 2 runs)" in other and "baseline" not in reference + other
    # The report, the dashboard and the isolation plot say the same.
    assert state.study_view(width_study.root)["comparison"] == out.rstrip("\n")
    page = report_lib.render(width_study, [], {}, {})
    assert "model.width=16 (reference)" in page and "(baseline)" not in page
    ticks = [t.get_text() for t in plots.isolation_plot(width_study).axes[0].get_xticklabels()]
    assert ticks == ["model.width=16\n(reference: not the baseline's)", "model.width=64"]


def test_a_verdict_carries_a_caveat_for_each_side_whose_best_trial_is_at_a_bound(
        width_study, capsys):
    (finding,) = [f for f in diagnose(width_study) if f.code == "boundary"]
    assert finding.numbers["side"] == "low" and set(finding.trials) == {"0000", "0001"}
    comparisons = {c.value.label: c for c in decisions.compare_values(width_study.trials,
                                                                      width_study.spec)}
    caveat = ("model.width={}'s best trial {} lies near the low bound 0.03 of "
              "'learning_rate': its nuisance search may not have found its optimum")
    mine, reference = caveat.format(64, "0001"), caveat.format(16, "0000")
    verdict = comparisons["model.width=64"]
    assert verdict.verdict in ("better", "worse", "inconclusive")
    assert verdict.caveats == (mine, reference)
    assert verdict.sentence().endswith(f"; caveat: {mine}; caveat: {reference}")
    assert comparisons["model.width=16"].caveats == (reference,)
    text = decisions.comparison_text(width_study)
    assert ("caveats: a comparison is fair only when both sides' search spaces contain their "
            "optimum (Playbook)") in text
    assert decisions.Comparison.from_evidence(verdict.evidence()) == verdict
    capsys.readouterr()
    assert commands.adopt(width_study.root, ["model.width=64"]) == 0  # the evidence it prints
    out = capsys.readouterr().out
    assert f"; caveat: {mine}; caveat: {reference}\n" in out
    assert ("does not show that it beats the reference beyond trial variance" in out) == (
        verdict.verdict != "better")


def test_with_several_scientific_keys_the_reference_is_the_baseline_combination():
    baseline = ConfigDict({"model": {"width": 32}, "optimizer": "adamw"})
    both = decisions.reference([("model.width", (16, 32)), ("optimizer", ("sgd", "adamw"))],
                               baseline)
    assert both.scientific == {"model.width": 32, "optimizer": "adamw"} and both.note == ""
    assert both.header() == "baseline model.width=32 optimizer=adamw"
    one = decisions.reference([("model.width", (16, 64)), ("optimizer", ("sgd", "adamw")),
                               ("depth", (1, 2))], baseline)
    assert one.scientific == {"model.width": 16, "optimizer": "adamw", "depth": 1}
    assert one.header() == (
        "reference model.width=16 optimizer=adamw depth=1: the first value, model.width=16 "
        "(the baseline's 32 is not in the study); optimizer=adamw, the baseline's; the "
        "first value, depth=1 (the baseline has no 'depth')")


def test_a_value_without_a_done_trial_has_no_result(tmp_path):
    root = write_study(tmp_path / "s")
    write_trial(root, "0000", {"optimizer": "adamw"}, LR, objective=0.3)
    write_trial(root, "0001", {"optimizer": "nesterov"}, LR, status="diverged")
    assert _compare(root)["optimizer=nesterov"].verdict == "no_result"


def test_adopt_records_the_decision_and_writes_a_loadable_next_baseline(tmp_path, capsys):
    root = _study(tmp_path, adamw=0.25, nesterov=0.20, adamw_reruns=[0.251, 0.249],
                  nesterov_reruns=[0.202, 0.198])
    assert commands.adopt(root, ["optimizer=nesterov"]) == 0
    out = capsys.readouterr().out
    assert "adopted optimizer=nesterov (trial 0001" in out
    assert "the interval excludes 0: better than the baseline" in out
    config = config_lib.load(os.path.join(root, "next_baseline.py"))  # as `playbook train` does
    assert config.optimizer == "nesterov" and config.learning_rate == 0.05
    assert config.weight_decay == 1e-4 and config.model.width == 32
    assert config.metric == "valid/error_rate"
    assert commands.adopt(root, ["optimizer=adamw"]) == 0
    with open(os.path.join(root, "decisions.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["adopted"] for r in records] == [{"optimizer": "nesterov"}, {"optimizer": "adamw"}]
    first = records[0]
    assert first["trial_id"] == "0001" and first["objective"] == 0.20
    assert first["comparison"]["verdict"] == "better"
    assert first["comparison"]["baseline"]["label"] == "optimizer=adamw"
    assert first["nuisance"] == {"learning_rate": 0.05, "weight_decay": 1e-4}
    assert config_lib.load(os.path.join(root, "next_baseline.py")).optimizer == "adamw"


def test_adopting_without_evidence_says_so(tmp_path, capsys):
    root = _study(tmp_path, adamw=0.25, nesterov=0.20)
    assert commands.adopt(root, ["optimizer=nesterov"]) == 0
    assert "the evidence does not show that it beats the baseline" in capsys.readouterr().out


@pytest.mark.parametrize("value, message", [
    (["optimizer=adam"], "'adam' is not a value of scientific 'optimizer' in this study "
                         "(did you mean 'adamw'?); valid values: nesterov, adamw"),
    (["optimiser=adamw"], "'optimiser' is not a scientific key of this study "
                          "(did you mean 'optimizer'?)"),
    (["adamw"], "'adamw' is not KEY=VALUE"),
    ([], "give a value for scientific 'optimizer' too"),
])
def test_adopt_refuses_values_not_in_the_study(tmp_path, value, message):
    root = _study(tmp_path, adamw=0.25, nesterov=0.20)
    with pytest.raises(ConfigError, match=re.escape(message)):
        commands.adopt(root, value)
    assert not os.path.exists(os.path.join(root, "decisions.jsonl"))
    assert not os.path.exists(os.path.join(root, "next_baseline.py"))


def test_adopt_refuses_a_value_without_a_done_trial(tmp_path):
    root = write_study(tmp_path / "s")
    write_trial(root, "0000", {"optimizer": "adamw"}, LR, objective=0.3)
    with pytest.raises(ConfigError, match="optimizer=nesterov has no done trial"):
        commands.adopt(root, ["optimizer=nesterov"])


def test_numeric_scientific_values_parse_from_text(tmp_path):
    root = write_study(tmp_path / "s", scientific={"model.width": [16, 64]}, nuisance={
        "learning_rate": {"kind": "float", "low": 1e-4, "high": 1.0, "scale": "log"}})
    write_trial(root, "0000", {"model.width": 16}, {"learning_rate": 0.01}, objective=0.3)
    write_trial(root, "0001", {"model.width": 64}, {"learning_rate": 0.02}, objective=0.2)
    record = decisions.adopt(root, ["model.width=64.0"])
    assert record["adopted"] == {"model.width": 64}
    config = config_lib.load(os.path.join(root, "next_baseline.py"))
    assert config.model.width == 64 and config.learning_rate == 0.02
