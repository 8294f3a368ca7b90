"""Corruption: damaged files in a study directory are detected, named, and recovered
from where that is possible, without touching finished trials.

Each test copies one small finished study (two trials of the synthetic
workload), damages one file the way a crash, a full disk or a careless edit
would, and checks what the runner, `playbook status` and the analysis make of
it. Run with `-s` to see the tally.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil

import pytest

from playbook import cli
from playbook.analysis.load import load_curves, load_study
from playbook.errors import ConfigError
from playbook.study import StudySpec, executors, runner
from playbook.study.store import StudyStore

from .study_files import attempts, curves, result_hashes, results, run_study, write_study

# (damage, outcome) of every case: recovered (the study finishes as if undamaged),
# refused (a one-line error, nothing written) or tolerated (nothing to recover).
TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    yield
    outcomes = collections.Counter()
    for (_, outcome), n in TALLY.items():
        outcomes[outcome] += n
    print(f"\ncorruptions: {sum(TALLY.values())} cases of {len({k for k, _ in TALLY})} kinds, "
          + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) + "\n"
          + "\n".join(f"  {k}: {o} {n}" for (k, o), n in sorted(TALLY.items())))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-trial study, and its config file."""
    workdir, config = run_study(tmp_path_factory.mktemp("finished"), budget=1,
                                steps=120)
    assert len(results(workdir)) == 2
    return workdir, config


@pytest.fixture
def study(finished, tmp_path):
    """A copy of the finished study to damage: (workdir, config, spec, store)."""
    source, config = finished
    workdir = str(tmp_path / "study")
    shutil.copytree(source, workdir)
    return workdir, config, StudySpec.load(config), StudyStore(workdir)


def _resume(workdir: str, spec: StudySpec) -> dict[str, str]:
    store = StudyStore(workdir)
    runner.prepare(store, spec)
    return runner.run(store, spec, executors.Inline()).statuses


def _trial(workdir: str, trial_id: str, name: str = "") -> str:
    return os.path.join(workdir, "trials", trial_id, name)


def _status(workdir: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["status", workdir])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- metrics.jsonl ---------------------------------------------------------------------------


def test_truncated_metrics_of_a_finished_trial_loses_only_the_torn_record(study, finished, caplog):
    workdir, _, spec, _ = study
    path = _trial(workdir, "0000", "metrics.jsonl")
    data = open(path, "rb").read()
    cut = data.rfind(b"\n", 0, len(data) - 1) + 20  # in the middle of the last record
    with open(path, "wb") as f:
        f.write(data[:cut])
    before = curves(finished[0])
    after = curves(workdir)
    lost = set(before) - set(after)
    assert lost and {(t, s) for t, s, _ in lost} == {("0000", 120)}
    assert all(after[k] == before[k] for k in after)
    hashes = result_hashes(workdir)
    assert _resume(workdir, spec) == {}  # finished: nothing reruns
    assert result_hashes(workdir) == hashes
    TALLY["torn last line of metrics.jsonl", "tolerated"] += 1


def test_garbage_inside_metrics_is_named_and_skipped_and_an_interrupted_trial_resumes(
        study, finished, caplog):
    workdir, _, spec, _ = study
    path = _trial(workdir, "0001", "metrics.jsonl")
    lines = open(path).read().splitlines(keepends=True)
    lines[1] = "\x00\x00garbage\x00\n"  # e.g. a block lost in a crash
    open(path, "w").writelines(lines)
    os.unlink(_trial(workdir, "0001", "result.json"))  # interrupted after its last checkpoint
    with caplog.at_level(logging.WARNING):
        table = load_curves(workdir)
    assert f"{path}:2" in caplog.text
    assert set(table[table["trial_id"] == "0001"]["step"]) == {20, 40, 60, 80, 100, 120} - {40}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _resume(workdir, spec) == {"0001": "done"}
    assert f"{path}:2" in caplog.text
    assert results(workdir) == results(finished[0])
    TALLY["garbage inside metrics.jsonl", "recovered"] += 1


# -- result.json -----------------------------------------------------------------------------


def test_half_written_result_is_named_and_the_trial_finishes_from_its_checkpoint(
        study, finished, caplog, capsys):
    workdir, _, spec, _ = study
    path = _trial(workdir, "0001", "result.json")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    other = result_hashes(workdir)["0000"]
    with caplog.at_level(logging.WARNING):
        code, out, _ = _status(workdir, capsys)
    assert code == 0 and "optimizer=adamw" in out
    assert path in caplog.text and "unreadable" in caplog.text
    assert load_study(workdir).set_index("trial_id").loc["0001", "status"] == "pending"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert _resume(workdir, spec) == {"0001": "done"}
    assert "resumed" in caplog.text and "from step 120" in caplog.text  # no step retrained
    assert results(workdir) == results(finished[0])
    assert result_hashes(workdir)["0000"] == other
    assert len(attempts(workdir)["0001"]) == 2 and len(attempts(workdir)["0000"]) == 1
    TALLY["half-written result.json", "recovered"] += 1


# -- checkpoints -----------------------------------------------------------------------------


def _interrupt(workdir: str, trial_id: str) -> None:
    """As if the runner died after the trial's last checkpoint, before its result."""
    os.unlink(_trial(workdir, trial_id, "result.json"))


def test_damaged_latest_checkpoint_is_named_and_the_trial_resumes_from_an_earlier_one(
        study, finished, caplog):
    workdir, _, spec, _ = study
    _interrupt(workdir, "0000")
    checkpoints = _trial(workdir, "0000", "checkpoints")
    latest = max(int(s) for s in os.listdir(checkpoints) if s.isdigit())
    shutil.rmtree(os.path.join(checkpoints, str(latest), "state"))
    with caplog.at_level(logging.INFO):
        assert _resume(workdir, spec) == {"0000": "done"}
    assert os.path.join(checkpoints, str(latest)) in caplog.text and "unreadable" in caplog.text
    assert results(workdir) == results(finished[0])
    assert curves(workdir) == curves(finished[0])
    TALLY["damaged latest checkpoint", "recovered"] += 1


def test_missing_checkpoints_of_an_interrupted_trial_retrain_it_to_the_same_result(
        study, finished):
    workdir, _, spec, _ = study
    _interrupt(workdir, "0001")
    shutil.rmtree(_trial(workdir, "0001", "checkpoints"))
    other = result_hashes(workdir)["0000"]
    assert _resume(workdir, spec) == {"0001": "done"}
    assert results(workdir) == results(finished[0])
    assert curves(workdir) == curves(finished[0])
    assert result_hashes(workdir)["0000"] == other
    TALLY["missing checkpoints, unfinished trial", "recovered"] += 1


def test_missing_checkpoints_of_a_finished_trial_change_nothing(study, finished, capsys):
    workdir, _, spec, _ = study
    shutil.rmtree(_trial(workdir, "0000", "checkpoints"))
    hashes = result_hashes(workdir)
    assert _resume(workdir, spec) == {}
    assert result_hashes(workdir) == hashes
    assert load_study(workdir)["status"].tolist() == ["done", "done"]
    TALLY["missing checkpoints, finished trial", "tolerated"] += 1


# -- study.json and trial.json ---------------------------------------------------------------


def test_deleted_study_json_is_named_and_the_same_config_recreates_it_rerunning_nothing(
        study, finished, capsys):
    workdir, config, spec, store = study
    os.unlink(store.study_json)
    code, _, err = _status(workdir, capsys)
    assert code == 2 and err.count("\n") == 1 and "(it has no study.json)" in err and workdir in err
    hashes = result_hashes(workdir)
    assert _resume(workdir, spec) == {}
    assert store.read_study()["spec"] == json.loads(json.dumps(spec.to_dict()))
    assert result_hashes(workdir) == hashes
    assert all(len(s) == 1 for s in attempts(workdir).values())
    TALLY["deleted study.json", "recovered"] += 1


def test_deleted_study_json_with_another_config_is_refused_before_anything_is_written(
        study, capsys, tmp_path):
    workdir, _, _, store = study
    os.unlink(store.study_json)
    other = write_study(tmp_path, budget=1, steps=80)
    hashes = result_hashes(workdir)
    code = cli.main(["study", "--config", other, "--workdir", workdir, "--no_progress",
                     "--no_report"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "trials/0000/config.json" in err and "max_train_steps" in err and "--workdir" in err
    assert not os.path.exists(store.study_json)
    assert result_hashes(workdir) == hashes
    TALLY["deleted study.json, another config", "refused"] += 1


@pytest.mark.parametrize("edit", ["truncate", "not an object", "malformed spec"])
def test_edited_study_json_is_named_and_nothing_is_written(study, capsys, edit):
    workdir, config, _, store = study
    text = open(store.study_json).read()
    damaged = {"truncate": text[: len(text) // 2], "not an object": "[1, 2]",
               "malformed spec": json.dumps({**json.loads(text), "spec": {"name": "x"}})}[edit]
    open(store.study_json, "w").write(damaged)
    hashes = result_hashes(workdir)
    for argv in (["status", workdir], ["study", "--config", config, "--workdir", workdir,
                                       "--no_progress", "--no_report"]):
        code = cli.main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "study.json" in err, (argv, err)
        assert "a new --workdir" in err or "restore" in err
    assert open(store.study_json).read() == damaged
    assert result_hashes(workdir) == hashes
    TALLY[f"study.json: {edit}", "refused"] += 1


def test_edited_study_json_that_differs_from_the_config_is_refused(study, capsys):
    workdir, config, _, store = study
    study_json = json.loads(open(store.study_json).read())
    study_json["spec"]["fixed"]["max_train_steps"] = 1000
    open(store.study_json, "w").write(json.dumps(study_json))
    code = cli.main(["study", "--config", config, "--workdir", workdir, "--no_progress"])
    err = capsys.readouterr().err
    assert code == 2 and "differs from" in err and "fixed" in err
    TALLY["study.json edited to differ from the config", "refused"] += 1


def test_unreadable_trial_json_is_named_and_recreated_from_the_config(study, finished, caplog,
                                                                     capsys):
    workdir, _, spec, _ = study
    path = _trial(workdir, "0001", "trial.json")
    original = open(path).read()
    open(path, "w").write(original[:10])
    with caplog.at_level(logging.WARNING):
        code, _, _ = _status(workdir, capsys)
    assert code == 0 and path in caplog.text
    hashes = result_hashes(workdir)
    assert _resume(workdir, spec) == {}  # its result.json still says done
    assert json.loads(open(path).read()) == json.loads(original)
    assert result_hashes(workdir) == hashes
    assert results(workdir) == results(finished[0])
    TALLY["half-written trial.json", "recovered"] += 1


def test_a_point_whose_trials_were_partly_created_is_completed(finished, tmp_path):
    _, config = finished
    spec = StudySpec.load(config)
    store = StudyStore(str(tmp_path / "study"))
    runner.prepare(store, spec)
    shutil.rmtree(store.trial_dir("0001"))  # a runner killed between the point's trials
    with pytest.raises(ConfigError, match="not a trial id"):
        store.trial_dir("../0001")
    runner.prepare(store, spec)
    assert store.trial_ids() == ["0000", "0001"]
    assert StudyStore(finished[0]).trials(spec.metric)[1].nuisance == store.trials(
        spec.metric)[1].nuisance
    TALLY["trials of a point partly created", "recovered"] += 1
