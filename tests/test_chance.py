"""Findings that know what they were given: trials at chance recorded as such whatever
their curves did first, a declared chance level for a trainer playbook cannot see into
(and a finding when there is none), no best-step finding without a curve, and failed
trials counted by cause. Studies of trainers written for the test, run as a user runs
them (`playbook study`, then the findings)."""

import json
import os
import sys

import pytest

from playbook import cli
from playbook.analysis import diagnose
from playbook.analysis.finding import flatten

TRAINERS = '''
import math


def _noise(step):
    return 0.02 * ((step // 10) % 3 - 1)


def train(config, workdir):
    """Two balanced classes. Above learning_rate 3 it never leaves chance (accuracy 0.5
    give or take evaluation noise, loss ln 2); below, it learns, best near 0.1."""
    out = []
    for s in range(10, config.num_train_steps + 1, 10):
        if config.learning_rate > 3:
            out.append({"step": s, "train_loss": math.log(2) + _noise(s),
                        "eval_accuracy": 0.5 + _noise(s)})
        else:
            ceiling = 0.95 - abs(math.log10(config.learning_rate / 0.1)) / 10
            out.append({"step": s, "train_loss": 0.7 * math.exp(-s / 30) + 0.05,
                        "eval_accuracy": ceiling - 0.4 * math.exp(-s / 30)})
    return out


def final_only(config, workdir):
    """Returns the final metrics only: no curve, so no best step to judge."""
    return {"eval_accuracy": 0.95 - abs(math.log10(config.learning_rate / 0.1)) / 10}


def fails(config, workdir):
    """Raises at small learning rates; reports another metric at large ones."""
    if config.learning_rate < 0.1:
        raise RuntimeError("the data loader ran dry")
    return [{"step": 10, "train_loss": 1.0, "valid_accuracy": 0.5}]
'''

BASELINE = '''
import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.trainer = "chancetrain:{function}"
    config.learning_rate = 0.1
    config.num_train_steps = 100
    config.metric = "eval_accuracy"
    config.depth = 2
    config.seed = 0
{extra}
    return config
'''

STUDY = '''
from playbook import search as hp
from playbook.study import define


def get_config():
    return define(baseline="baseline.py", scientific={{"depth": [2]}},
                  nuisance={{"learning_rate": hp.log(0.01, 100.0)}}, budget={budget})
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A directory of user code: chancetrain.py, and a baseline and study written per test."""
    saved = list(sys.path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chancetrain.py").write_text(TRAINERS)

    def make(function, extra="", budget=8):
        extra = "\n".join(f"    config.{line}" for line in extra.splitlines())
        (tmp_path / "baseline.py").write_text(BASELINE.format(function=function, extra=extra))
        (tmp_path / "study.py").write_text(STUDY.format(budget=budget))
        assert cli.main(["study", "--config", "study.py", "--workdir", "s", "--no_progress",
                         "--no_report"]) == 0
        return tmp_path / "s"

    yield make
    sys.path[:] = saved
    sys.modules.pop("chancetrain", None)


def _results(study_dir):
    out = {}
    for trial in sorted((study_dir / "trials").iterdir()):
        result = json.loads((trial / "result.json").read_text())
        meta = json.loads((trial / "trial.json").read_text())
        out[trial.name] = (meta["nuisance"]["learning_rate"], result)
    return out


def test_trials_at_a_declared_chance_level_are_at_chance_and_never_the_highest_that_trained(
        project):
    study_dir = project("train", extra="metric_chance = 0.5")
    results = _results(study_dir)
    high = {t for t, (lr, _) in results.items() if lr > 3}
    assert len(high) >= 2 and len(high) < len(results)
    for trial, (_, result) in results.items():
        assert result["chance"] == 0.5
        if trial in high:  # accuracy 0.48-0.52 throughout: a noisy 0.52 is not learning
            assert (result["status"], result["reason"]) == ("diverged", "at_chance")
        else:
            assert (result["status"], result["reason"]) == ("done", None)
    findings = flatten(diagnose(study_dir))
    trained = max(lr for t, (lr, _) in results.items() if t not in high)
    (threshold,) = [f for f in findings if f.code == "divergence_threshold"]
    assert set(threshold.trials) == high
    assert f"({len(high)} trials: {len(high)} at_chance)" in threshold.message
    assert threshold.numbers["threshold"] == pytest.approx(min(
        lr for t, (lr, _) in results.items() if t in high))
    # The trials at chance are neither "the highest that trained" nor the best.
    (instability,) = [f for f in findings if f.code == "instability"]
    assert instability.numbers["last_stable"] == pytest.approx(trained)
    assert "chance_unknown" not in [f.code for f in findings]


def test_without_a_declared_chance_level_the_findings_say_it_is_unknown(project):
    study_dir = project("train")
    results = _results(study_dir)
    assert all(r["status"] == "done" and r["chance"] is None for _, r in results.values())
    (unknown,) = [f for f in diagnose(study_dir) if f.code == "chance_unknown"]
    assert "eval_accuracy" in unknown.message and "metric_chance" in unknown.recommendation


def test_a_trainer_that_reports_final_metrics_only_gets_no_best_step_finding(project):
    study_dir = project("final_only", extra="metric_chance = 0.5")
    results = _results(study_dir)
    assert all(r["status"] == "done" and r["best_step"] == 100 for _, r in results.values())
    codes = [f.code for f in flatten(diagnose(study_dir))]
    assert "best_step_late" not in codes and "best_step_early" not in codes


def test_failed_trials_are_counted_by_cause(project):
    study_dir = project("fails", budget=4)
    results = _results(study_dir)
    raised = [t for t, (lr, _) in results.items() if lr < 0.1]
    missing = [t for t, (lr, _) in results.items() if lr >= 0.1]
    assert raised and missing
    assert {results[t][1]["reason"] for t in raised} == {"exception"}
    assert {results[t][1]["reason"] for t in missing} == {"metric_missing"}
    findings = diagnose(study_dir)
    # One finding for them: failed trials have no value, they are not infeasible results.
    assert "infeasible" not in [f.code for f in findings]
    (failed,) = [f for f in findings if f.code == "failed_trials"]
    assert failed.numbers["causes"] == {"exception": len(raised), "metric_missing": len(missing)}
    assert f"{len(raised)} with an exception (first: RuntimeError: the data loader ran dry)" \
        in failed.message
    assert f"{len(missing)} without a value of the study's metric (first: metric " \
           "'eval_accuracy' was not found" in failed.message
    assert "set the study's metric to one the trainer reports" in failed.recommendation
    assert failed.numbers["failed"] == len(results)


def test_a_declared_chance_level_that_is_not_a_number_is_refused_before_anything_runs(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the study imports from tmp_path
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chancetrain.py").write_text(TRAINERS)
    extra = "    config.metric_chance = 'half'"
    (tmp_path / "baseline.py").write_text(BASELINE.format(function="train", extra=extra))
    (tmp_path / "study.py").write_text(STUDY.format(budget=2))
    try:
        assert cli.main(["study", "--config", "study.py", "--workdir", "s", "--dry_run"]) == 2
    finally:
        sys.modules.pop("chancetrain", None)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "metric_chance must be a finite number" in err
    assert not (tmp_path / "s").exists()


def test_a_rerun_whose_trainer_does_not_import_from_here_writes_nothing(
        project, tmp_path, monkeypatch, capsys):
    study_dir = project("train", extra="metric_chance = 0.5", budget=2)
    before = sorted(p.name for p in (study_dir / "trials").iterdir())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the trainer's module is not importable from here
    sys.modules.pop("chancetrain", None)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))
                                      and not os.path.exists(os.path.join(p, "chancetrain.py"))])
    capsys.readouterr()
    assert cli.main(["rerun", str(study_dir), "--top", "1", "--seeds", "2"]) == 2
    assert "chancetrain" in capsys.readouterr().err
    assert sorted(p.name for p in (study_dir / "trials").iterdir()) == before
