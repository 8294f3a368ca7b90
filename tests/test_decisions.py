"""Comparing scientific values against the baseline beyond trial variance, and adopting
one as the next round's baseline with its evidence recorded."""

import json
import math
import os
import re

import pytest
from test_analysis_load import write_study, write_trial

from playbook import config as config_lib
from playbook.analysis import commands, decisions
from playbook.analysis.load import Study
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


def test_without_reruns_the_difference_is_shown_but_not_judged(tmp_path, capsys):
    root = _study(tmp_path, adamw=0.20, nesterov=0.25)
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.verdict == "no_reruns" and comparison.std is None
    assert comparison.difference == pytest.approx(-0.05)  # worse than the baseline
    assert commands.compare(root) == 0
    out = capsys.readouterr().out
    assert "optimizer=adamw (baseline): 0.2 (trial 0000)" in out
    assert "worse by 0.05; trial variance unknown" in out
    assert f"playbook rerun {os.path.abspath(root)} --top 1 --seeds 3" in out


def test_a_difference_beyond_twice_the_pooled_rerun_std_is_real(tmp_path):
    root = _study(tmp_path, adamw=0.25, nesterov=0.20, adamw_reruns=[0.251, 0.249],
                  nesterov_reruns=[0.202, 0.198])
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.verdict == "better"
    assert comparison.value.seeds == 3 and comparison.value.mean == pytest.approx(0.2)
    # Both groups have std 0.001 (adamw) and 0.002 (nesterov) with 2 degrees of freedom each.
    assert comparison.std == pytest.approx(math.sqrt((2 * 0.001 ** 2 + 2 * 0.002 ** 2) / 4))
    assert "exceeds 2 x the pooled trial std" in comparison.sentence()


SPREAD = 0.01  # each side: its best trial at m and reruns at m - SPREAD, m + SPREAD,
# so mean m, std SPREAD (ddof 1), and the pooled std of both sides is SPREAD.


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
@pytest.mark.parametrize("improvement, verdict", [
    (2.1 * SPREAD, "better"), (1.9 * SPREAD, "within_noise"),
    (-1.9 * SPREAD, "within_noise"), (-2.1 * SPREAD, "worse")])
def test_the_verdict_turns_at_twice_the_pooled_rerun_std_on_both_sides(tmp_path, goal,
                                                                       improvement, verdict):
    sign = 1 if goal == "maximize" else -1
    base, value = 0.5, 0.5 + sign * improvement
    root = _study(tmp_path, adamw=base, nesterov=value, goal=goal,
                  adamw_reruns=[base - SPREAD, base + SPREAD],
                  nesterov_reruns=[value - SPREAD, value + SPREAD])
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.std == pytest.approx(SPREAD)
    assert comparison.difference == pytest.approx(improvement)
    assert comparison.verdict == verdict
    expected = {"better": "a real improvement", "worse": "a real degradation",
                "within_noise": "not distinguishable from noise"}[verdict]
    assert comparison.sentence().endswith(expected)


def test_a_difference_within_the_rerun_spread_is_noise(tmp_path):
    root = _study(tmp_path, adamw=0.21, nesterov=0.20, adamw_reruns=[0.25, 0.18],
                  nesterov_reruns=[0.24, 0.17])
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.verdict == "within_noise"
    assert "not distinguishable from noise" in comparison.sentence()


def test_for_a_maximized_metric_higher_is_better(tmp_path):
    root = _study(tmp_path, adamw=0.80, nesterov=0.90, adamw_reruns=[0.80, 0.81],
                  nesterov_reruns=[0.90, 0.91], goal="maximize")
    comparison = _compare(root)["optimizer=nesterov"]
    assert comparison.difference == pytest.approx(0.1) and comparison.verdict == "better"


def test_the_first_value_is_the_reference_when_the_baseline_value_is_not_compared(tmp_path):
    root = write_study(tmp_path / "s", scientific={"optimizer": ["sgd", "momentum"]})
    write_trial(root, "0000", {"optimizer": "sgd"}, LR, objective=0.3)
    write_trial(root, "0001", {"optimizer": "momentum"}, LR, objective=0.2)
    comparisons = _compare(root)
    assert comparisons["optimizer=sgd"].verdict == "baseline"
    assert comparisons["optimizer=momentum"].baseline.label == "optimizer=sgd"


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
    assert "adopted optimizer=nesterov (trial 0001" in out and "a real improvement" in out
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
