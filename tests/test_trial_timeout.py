"""`trial_timeout`: a trial that runs past it is stopped (its worker process killed, its
Ray task cancelled), recorded failed with reason `timeout` and its partial curve, and
the study goes on; `--retry_failed` runs it again. The trainer here logs two steps and
then sleeps 40 s (far past each test's timeout; a trial left running would end done),
for the trials with hang=True, until a `release` file appears beside it."""

import json
import math
import os
import sys
import time

import pytest
from extra_modules import require

from playbook import cli, trial_files
from playbook.errors import ConfigError
from playbook.study import executors, runner, timeouts
from playbook.study.spec import StudySpec
from playbook.study.spec_parse import define
from playbook.study.store import StudyStore, read_json

TRAINER = '''
import json
import os
import time

RELEASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release")


def train(config, workdir):
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        for step in range(10, config.num_steps + 1, 10):
            if step > 20 and config.hang and not os.path.exists(RELEASE):
                f.flush()
                time.sleep(40)  # "hangs", with steps 10 and 20 logged (then goes on)
            time.sleep(config.step_seconds)
            f.write(json.dumps({"step": step, "train_loss": 1.0 / step,
                                "eval_error": config.learning_rate / step}) + "\\n")
'''

BASELINE = '''
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.trainer = "sleepytrain:train"
    c.learning_rate = 0.1
    c.num_steps = 40
    c.step_seconds = {step_seconds}
    c.hang = False
    c.metric = "eval_error"
    return c
'''

STUDY = '''
from playbook import search as hp
from playbook.study import define


def get_config():
    return define(baseline="baseline.py", scientific={{"hang": [False, True]}},
                  nuisance={{"learning_rate": hp.log(0.01, 1.0)}}, budget={budget},
                  trial_timeout={timeout})
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A directory with the trainer, its baseline and a study (`make(budget, timeout)`),
    the working directory while the test runs; its module is forgotten afterwards."""
    saved = list(sys.path)
    directory = tmp_path / "project"
    directory.mkdir()
    monkeypatch.chdir(directory)

    def make(budget=1, timeout=None, step_seconds=0.0):
        (directory / "sleepytrain.py").write_text(TRAINER)
        (directory / "baseline.py").write_text(BASELINE.format(step_seconds=step_seconds))
        (directory / "study.py").write_text(STUDY.format(budget=budget, timeout=timeout))
        return directory

    yield make
    sys.path[:] = saved
    sys.modules.pop("sleepytrain", None)


def outcomes(study_dir):
    """{trial id: (status, reason, steps, hang)} from each trial's own files."""
    store = StudyStore(str(study_dir))
    out = {}
    for trial_id in store.trial_ids():
        trial_dir = store.trial_dir(trial_id)
        result = read_json(os.path.join(trial_dir, "result.json")) or {}
        hang = read_json(os.path.join(trial_dir, "trial.json"))["scientific"]["hang"]
        out[trial_id] = (result.get("status"), result.get("reason"), result.get("steps"), hang)
    return out


def starts(study_dir, trial_id):
    path = os.path.join(str(study_dir), "trials", trial_id, "attempts.jsonl")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_stopped(study_dir, timeout):
    """Each hang=True trial is failed (timeout) after step 20 with its partial curve and
    the message; each other trial is done."""
    found = outcomes(study_dir)
    assert found and {o[3] for o in found.values()} == {False, True}
    for trial_id, (status, reason, steps, hang) in found.items():
        if not hang:
            assert (status, reason, steps) == ("done", None, 40), trial_id
            continue
        assert (status, reason, steps) == ("failed", "timeout", 20), trial_id
        trial_dir = os.path.join(str(study_dir), "trials", trial_id)
        # The curve it logged before it hung, in its own workdir and the trial's files.
        for where in ("workdir", "."):
            records = trial_files.read_records(os.path.join(trial_dir, where, "metrics.jsonl"))
            assert [r["step"] for r in records] == [10, 20], (trial_id, where)
        text = trial_files.read_error(trial_dir)
        assert f"(trial_timeout={timeout:g})" in text and text.startswith("stopped after ")
        seconds = float(text.split()[2])
        assert timeout <= seconds < timeout + 5, text
        assert read_json(os.path.join(trial_dir, "result.json"))["error"] == text.strip()


# -- the setting ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -5, math.nan, "x", True, math.inf])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused_in_one_line(
        project, value):
    project()
    study = define(baseline="baseline.py", scientific={"hang": [False]}, nuisance={},
                   budget=1, trial_timeout=value)
    with pytest.raises(ConfigError) as raised:
        StudySpec.from_config(study)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("'trial_timeout' must be a positive number of seconds, got ")
    assert "e.g. trial_timeout=600" in message


@pytest.mark.parametrize("flag", ["0", "-5", "nan", "inf"])
def test_the_command_line_timeout_is_checked_before_the_study_is_written(
        project, tmp_path, capsys, flag):
    project()
    study_dir = tmp_path / "study"
    assert cli.main(["study", "--config", "study.py", "--workdir", str(study_dir),
                     "--trial_timeout", flag, "--no_progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("playbook: error: --trial_timeout must be a positive number of "
                          "seconds") and "\n" not in err
    assert not study_dir.exists()


def test_the_timeout_is_stored_and_another_one_continues_the_study(project, tmp_path):
    project(timeout=600)
    store = StudyStore(str(tmp_path / "study"))
    spec = StudySpec.load("study.py", ["--config.trial_timeout=2.5"])
    assert spec.trial_timeout == 2.5
    runner.prepare(store, spec)
    assert store.read_study()["spec"]["trial_timeout"] == 2.5
    # A run setting, not the study's question: another value, or none, resumes it.
    for overrides, stored in ((["--config.trial_timeout=60"], 60.0), ([], 600.0)):
        runner.prepare(store, StudySpec.load("study.py", overrides))
        assert store.read_study()["spec"]["trial_timeout"] == stored
    project(timeout=None)
    runner.prepare(store, StudySpec.load("study.py"))
    spec = store.read_study()["spec"]
    assert "trial_timeout" not in spec  # as in a study.json written before the setting
    assert StudySpec.from_dict(spec).trial_timeout is None


# -- stopping a trial ---------------------------------------------------------------------


@pytest.mark.slow
def test_inline_a_hanging_trial_is_stopped_recorded_and_retried(project, tmp_path, capsys):
    directory = project(budget=1)
    study_dir = tmp_path / "study"
    started = time.monotonic()
    assert cli.main(["study", "--config", "study.py", "--workdir", str(study_dir),
                     "--trial_timeout", "2", "--no_progress"]) == 0
    assert time.monotonic() - started < 60
    check_stopped(study_dir, 2)
    out = capsys.readouterr().out
    assert "hang=True: no finished trial" in out
    assert os.path.exists(study_dir / "report" / "index.html")  # the study ended as any does
    (directory / "release").write_text("")
    assert cli.main(["study", "--config", "study.py", "--workdir", str(study_dir),
                     "--retry_failed", "--no_progress", "--no_report"]) == 0
    assert {o[:3] for o in outcomes(study_dir).values()} == {("done", None, 40)}


@pytest.mark.slow
def test_processes_a_killed_worker_costs_only_its_trial(project, tmp_path):
    project(budget=2, step_seconds=0.15)  # 0.6 s per trial that does not hang
    study_dir = tmp_path / "study"
    runner_pid = os.getpid()
    assert cli.main(["study", "--config", "study.py", "--workdir", str(study_dir),
                     "--executor", "processes", "--workers", "2", "--trial_timeout", "2",
                     "--no_progress", "--no_report"]) == 0
    check_stopped(study_dir, 2)
    for trial_id in outcomes(study_dir):
        (start,) = starts(study_dir, trial_id)  # none lost with a killed worker, none rerun
        assert start["ppid"] == runner_pid and start["pid"] != runner_pid


@pytest.mark.slow
def test_ray_a_hanging_task_is_cancelled_recorded_and_retried(project, tmp_path):
    ray = require("ray", "ray")
    directory = project(budget=1, timeout=3)
    sys.path.append(str(directory))
    store = StudyStore(str(tmp_path / "study"))
    spec = runner.prepare(store, StudySpec.load("study.py"))
    try:
        executor = executors.create("ray", workers=2, timeout=spec.trial_timeout)
        assert runner.run(store, spec, executor).statuses == {"0000": "done", "0001": "failed"}
        check_stopped(store.root, 3)
        (directory / "release").write_text("")
        assert runner.reset_failed(store, spec) == ["0001"]
        assert runner.run(store, spec, executor).statuses == {"0001": "done"}
    finally:
        ray.shutdown()
    assert [s.get("ray_task") is not None for s in starts(store.root, "0001")] == [True, True]


# -- what is recorded -------------------------------------------------------------------


def test_a_group_past_the_timeout_marks_its_started_unfinished_members(project, tmp_path):
    """A group's trials start together in one program: each that the stopped process
    started and that has no result is failed (timeout); a finished one keeps its result,
    one it had not started stays pending."""
    project(budget=2)
    store = StudyStore(str(tmp_path / "study"))
    runner.prepare(store, StudySpec.load("study.py"))
    finished, first, second, unstarted = store.trial_ids()
    clock = timeouts.Clock(store, (first, second))
    time.sleep(0.2)
    assert clock.elapsed() == 0  # not started: waiting for a worker is not the trial's time
    for trial_id in (finished, first, second):
        store.record_attempt(trial_id)  # as the worker (this process) would
    trial_files.write_result(store.trial_dir(finished), trial_files.failed("boom"))
    # A new start restarts the clock: the next chunk of a group gets its own time.
    time.sleep(0.3)
    assert clock.elapsed() < 0.1
    statuses = timeouts.record(store.root, (finished, first, second, unstarted), 2.0, 2.4,
                               lambda attempt: attempt["pid"] == os.getpid())
    assert statuses == {finished: "failed", first: "failed", second: "failed",
                        unstarted: "pending"}
    assert trial_files.read_result(store.trial_dir(finished)).reason == "exception"
    for trial_id in (first, second):
        result = trial_files.read_result(store.trial_dir(trial_id))
        assert (result.status, result.reason, result.steps) == ("failed", "timeout", 0)
        assert result.error.startswith("stopped after 2 s (trial_timeout=2)")
    assert not os.path.exists(trial_files.path(store.trial_dir(unstarted), "result.json"))
