"""A trial directory's files: each written and read back, one shape for a failed result,
damage read as missing with a warning, and the temporaries of every version removed."""

import dataclasses
import json
import logging
import math
import os

import pytest

from playbook import atomic, trial_files
from playbook.study import runner
from playbook.study.store import StudyStore, TrialRecord
from playbook.trial_files import Throughput, TrialResult


def _done(**changes) -> TrialResult:
    result = TrialResult(status="done", best_step=40, best={"valid/error_rate": 0.25,
                                                            "valid/loss": math.nan},
                         final={"valid/error_rate": 0.3, "valid/loss": 1.5}, steps=60,
                         max_train_steps=60, metric="valid/error_rate", goal="minimize",
                         throughput=Throughput(steps_per_second=12.5, first_step_seconds=2.0),
                         best_checkpoint="/x/checkpoints/best/40", resumed_from=20)
    return dataclasses.replace(result, **changes)


def test_result_round_trips_with_non_finite_values_as_null(tmp_path):
    result = _done()
    path = trial_files.write_result(tmp_path, result)
    stored = json.loads(open(path).read())
    assert stored["best"] == {"valid/error_rate": 0.25, "valid/loss": None}
    assert stored["throughput"]["examples_per_second"] is None
    back = trial_files.read_result(tmp_path)
    assert math.isnan(back.best["valid/loss"]) and math.isnan(result.best["valid/loss"])
    assert dataclasses.replace(back, best=None) == dataclasses.replace(result, best=None)
    assert back.best["valid/error_rate"] == 0.25 and trial_files.status(tmp_path) == "done"
    assert trial_files.read_result(tmp_path / "absent") is None


def test_record_config_error_and_metrics_round_trip(tmp_path):
    trial_files.write_record(tmp_path, {"trial_id": "0003", "seed": 1, "repeats": None})
    assert trial_files.read_record(tmp_path) == {"trial_id": "0003", "seed": 1, "repeats": None}
    config = {"optimizer": {"learning_rate": 0.1}, "max_train_steps": 60}
    trial_files.write_config(tmp_path, config)
    assert trial_files.read_config(tmp_path) == config
    trial_files.write_error(tmp_path, "Traceback\nValueError: x")
    assert trial_files.read_error(tmp_path) == "Traceback\nValueError: x\n"
    path = trial_files.path(tmp_path, trial_files.METRICS_FILE)
    with open(path, "w") as f:
        f.write(trial_files.metrics_line(20, {"train/loss": 2.0}))
        f.write(trial_files.metrics_line(40, {"train/loss": math.inf, "valid/loss": 1.0}))
        f.write(trial_files.metrics_line(40, {"train/loss": 1.0}))  # a resumed rerun of 40
        f.write('{"step": 60, "train/lo')  # torn by a kill
    assert [r["step"] for r in trial_files.read_records(path)] == [20, 40, 40]
    assert trial_files.read_metrics(path) == [{"step": 20, "train/loss": 2.0},
                                              {"step": 40, "train/loss": 1.0, "valid/loss": 1.0}]
    assert trial_files.last_step(tmp_path) == 40
    trial_files.drop_metrics_after(path, 20)
    assert open(path).read() == '{"step": 20, "train/loss": 2.0}\n{"step": 60, "train/lo'
    assert sorted(os.listdir(tmp_path)) == ["config.json", "error.txt", "metrics.jsonl",
                                            "trial.json"]


def test_a_failed_trial_of_the_runner_is_stored_in_the_loops_shape(tmp_path):
    store = StudyStore(str(tmp_path))
    record = TrialRecord("0000", 0, {}, {}, (), 0, None)
    store.write_trial(record, {"max_train_steps": 60, "metric": "valid/error_rate"})
    os.unlink(trial_files.path(store.trial_dir("0000"), trial_files.CONFIG_FILE))
    assert runner._train_alone(store, "0000") == "failed"  # no config: the trial fails
    stored = json.load(open(trial_files.path(store.trial_dir("0000"), trial_files.RESULT_FILE)))
    assert set(stored) == set(_done().to_dict())
    result = trial_files.read_result(store.trial_dir("0000"))
    assert result.status == "failed" and result.steps == 0 and result.objective is None
    assert "config.json is missing or unreadable" in result.error
    assert result.error == trial_files.read_error(store.trial_dir("0000"))
    assert store.read_trial("0000", "valid/error_rate").status == "failed"


def test_a_failed_result_of_an_older_version_reads_in_the_one_shape(tmp_path):
    old = {"status": "failed", "error": "ValueError: x", "best": None, "best_step": None,
           "steps": 0}
    (tmp_path / "result.json").write_text(json.dumps(old))
    result = trial_files.read_result(tmp_path)
    assert result == trial_files.failed("ValueError: x", reason=None)
    assert result.cause == "exception"  # a failure without a reason was an exception


def test_a_reason_that_does_not_belong_to_its_status_is_refused():
    with pytest.raises(ValueError, match="reason 'timeout' of a diverged trial"):
        dataclasses.replace(_done(), status="diverged", reason="timeout")
    with pytest.raises(ValueError, match="a done trial has no reason"):
        dataclasses.replace(_done(), reason="collapsed")
    assert trial_files.failed("x", reason="timeout").cause == "timeout"


@pytest.mark.parametrize("text", ['{"status": "do', '{"status": "finished"}', "[1, 2]",
                                  '{"status": "done", "best": 3}'])
def test_a_damaged_result_reads_as_missing_with_a_warning(tmp_path, caplog, text):
    path = tmp_path / "result.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        assert trial_files.read_result(tmp_path) is None
    assert f"{path} is unreadable" in caplog.text and "treated as missing" in caplog.text


def test_objective_is_the_best_value_of_a_feasible_trial_only():
    assert trial_files.objective(_done()) == 0.25
    bare = _done(best={"error_rate": 0.5}, metric="error_rate")  # as a trainer may log it
    assert trial_files.objective(bare, "valid/error_rate") == 0.5
    assert trial_files.objective(_done(), "valid/loss") is None  # NaN: no value
    assert trial_files.objective(_done(status="diverged", reason="collapsed")) is None
    assert trial_files.objective(None) is None
    assert _done().objective == 0.25


def test_one_write_leaves_no_temporary_and_every_versions_temporaries_are_removed(tmp_path):
    atomic.write_json(tmp_path / "study.json", {"a": 1})
    atomic.write_text(tmp_path / "notes.txt", "x", fsync=False)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "study.json"]
    left = [".tmp-k2j3_8.json", "result.json.tmp-4242", "result.json.tmp-4242-0a9f3c1d",
            os.path.basename(atomic.temporary(tmp_path / "trial.json"))]
    for name in left:
        (tmp_path / name).write_text("half")
    assert sorted(atomic.remove_temporaries(str(tmp_path))) == sorted(left)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "study.json"]
    with pytest.raises(RuntimeError), atomic.replacing(tmp_path / "study.json") as tmp:
        open(tmp, "w").write("{")
        raise RuntimeError("writer failed")
    assert atomic.read_json(str(tmp_path / "study.json")) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "study.json"]
    inode = os.stat(tmp_path / "study.json").st_ino
    atomic.write_json(tmp_path / "study.json", {"a": 1}, if_changed=True)  # the same: untouched
    assert os.stat(tmp_path / "study.json").st_ino == inode
    atomic.write_json(tmp_path / "study.json", {"a": 2}, if_changed=True)
    assert atomic.read_json(str(tmp_path / "study.json")) == {"a": 2}
