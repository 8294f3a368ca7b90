"""The user's own code: references checked before anything runs, an external trainer's
curves read from what it returned or wrote, and its trials' outcomes."""

import json
import os
import sys
import time

import numpy as np
import pytest
import tensorboardX
from external_code import ROOT, toy_curve, toy_project

from playbook import cli
from playbook.errors import ConfigError
from playbook.study import StudySpec, define, runner
from playbook.study.store import StudyStore, read_json
from playbook.train import curves


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    """Runs the test in a fresh directory of user code, imported from there and
    forgotten afterwards."""
    saved = list(sys.path)

    def make(directory):
        monkeypatch.chdir(directory)
        return directory

    yield make
    sys.path[:] = saved
    for name in ("toytrain", "broken", "wl"):
        sys.modules.pop(name, None)


def run_cli(*args):
    return cli.main([*args, "--no_progress"] if args[0] == "study" else list(args))


@pytest.mark.parametrize("trainer, expected", [
    ("nosuchmodule:train_and_evaluate", "no module named 'nosuchmodule' in the working directory"),
    ("toytrain:train_and_evalute", "has no attribute 'train_and_evalute'"),
    ("toytrain:one_parameter", "calls it as one_parameter(config, workdir)"),
    ("toytrain:keyword_only", "calls it as keyword_only(config, workdir)"),
    ("toytrain:NOT_A_FUNCTION", "is a int, not a function"),
    ("toytrain.train_and_evaluate", "write it as 'package.module:name'"),
    ("broken:train", "importing module 'broken' failed with ZeroDivisionError"),
])
def test_a_bad_trainer_reference_is_one_line_and_exit_2_before_anything_is_written(
        tmp_path, in_project, capsys, trainer, expected):
    project = in_project(toy_project(tmp_path / "toy", trainer=trainer))
    (project / "broken.py").write_text("import os\nRATIO = 1 / 0\n")
    assert run_cli("study", "--config", "study.py", "--workdir", "runs/x") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert err.startswith("playbook: error: trainer") or "trainer" in err
    assert not (project / "runs").exists()


WORKLOADS = '''
from playbook.workloads.base import ClassificationWorkload


class NoEval:
    metric_goals = {"mse": "minimize"}
    default_metric = "mse"
    def load(self, config): ...
    def model(self, config, dataset): ...
    def train_loss(self, logits, labels): ...


class BadGoal(ClassificationWorkload):
    metric_goals = {"mse": "lower"}


class NeedsArgument(ClassificationWorkload):
    def __init__(self, path):
        self.path = path


def not_a_class():
    return None
'''


@pytest.mark.parametrize("workload, expected", [
    ("wl:NoEval", "lacks eval_metrics of the workload protocol"),
    ("wl:BadGoal", "metric_goals['mse'] is 'lower'; valid: minimize, maximize"),
    ("wl:NeedsArgument", "cannot be created without arguments"),
    ("wl:not_a_class", "is a function, not a class"),
    ("wl:Missing", "has no attribute 'Missing'"),
])
def test_a_bad_workload_class_is_one_line_and_exit_2(tmp_path, in_project, capsys, workload,
                                                     expected):
    project = in_project(tmp_path)
    (project / "wl.py").write_text(WORKLOADS)
    (project / "baseline.py").write_text(
        "from playbook import config as config_lib\n\n\ndef get_config():\n"
        f"    c = config_lib.load({str(ROOT / 'configs' / 'synthetic_mlp.py')!r})\n"
        f"    c.workload = {workload!r}\n    return c\n")
    assert run_cli("train", "--config", "baseline.py", "--workdir", "w") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not (project / "w").exists()


def trainer_study(metric="eval_error", goal="", metric_goal=None):
    baseline = {"trainer": "toytrain:returns_curves", "learning_rate": 0.1, "num_steps": 40}
    if metric_goal is not None:
        baseline["metric_goal"] = metric_goal
    from ml_collections import ConfigDict

    return StudySpec.from_config(define(
        baseline=ConfigDict(baseline), scientific={"num_steps": [40, 80]},
        nuisance={}, budget=1, metric=metric, goal=goal))


def test_a_trainers_metric_goal_is_read_from_its_name_or_given(tmp_path, in_project):
    in_project(toy_project(tmp_path))
    assert trainer_study("eval_error").goal == "minimize"
    assert trainer_study("eval_accuracy").goal == "maximize"
    assert trainer_study("valid/loss").goal == "minimize"
    spec = trainer_study("eval_bleu_delta", metric_goal="minimize")
    assert spec.goal == "minimize" and spec.baseline.metric_goal == "minimize"
    assert spec.baseline.metric == "eval_bleu_delta"  # each trial's config carries it
    assert trainer_study("eval_f", goal="maximize").goal == "maximize"
    with pytest.raises(ConfigError, match="cannot be read from its name; set metric_goal="):
        trainer_study("eval_f")
    with pytest.raises(ConfigError, match="contradicts the baseline's metric_goal"):
        trainer_study("eval_f", goal="maximize", metric_goal="minimize")
    with pytest.raises(ConfigError, match="needs a metric"):
        trainer_study("")


def _tf2_scalar_events(logdir, tag, points):
    """Event files as clu's summary writer writes them through TensorFlow: scalar
    tensor summaries with the scalars plugin (tensorboard's own protobufs, no TF)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.scalar import summary_v2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for step, value in points:
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                         summary=summary_v2.scalar_pb(tag, np.float32(value))))
    writer.close()


def test_curves_merge_what_was_returned_the_event_files_and_metrics_jsonl(tmp_path):
    with tensorboardX.SummaryWriter(str(tmp_path)) as writer:  # tensorboardX: simple values
        for step, loss in ((10, 2.0), (20, 1.5), (30, 1.25)):
            writer.add_scalar("train_loss", loss, step)
        writer.add_text("notes", "not a scalar", 10)
    time.sleep(0.01)
    # A resumed run rewrites step 30 (in its own file: names hold the second it was opened).
    with tensorboardX.SummaryWriter(str(tmp_path), filename_suffix=".resumed") as writer:
        writer.add_scalar("train_loss", 1.0, 30)
    _tf2_scalar_events(tmp_path / "eval", "accuracy", [(20, 0.5), (30, 0.75)])
    with open(tmp_path / "metrics.jsonl", "w") as f:
        f.write(json.dumps({"step": 20, "train_loss": 9.0, "lr": 0.1}) + "\n")
    returned = [{"step": 30, "train_loss": np.float32(0.875), "shape": np.zeros(3)}]

    found = curves.collect(returned, str(tmp_path))
    assert found.by_step == {10: {"train_loss": 2.0},
                             20: {"train_loss": 1.5, "eval/accuracy": 0.5, "lr": 0.1},
                             30: {"train_loss": 0.875, "eval/accuracy": 0.75}}
    assert found.sources == {"train_loss": "returned", "eval/accuracy": "tensorboard",
                             "lr": "metrics.jsonl"}
    assert curves.collect(None, str(tmp_path)).by_step[30]["train_loss"] == 1.0
    # Final metrics without steps land on the last step.
    assert curves.collect({"score": 3}, str(tmp_path)).by_step[30]["score"] == 3.0


def test_a_trainers_throughput_comes_from_the_wall_times_of_its_event_files():
    from ml_collections import ConfigDict

    from playbook.train import external_trainer

    started = 1000.0
    found = curves.Curves({s: {"loss": 1.0} for s in (10, 20, 30)}, {"loss": "tensorboard"},
                          wall_times={5: 990.0, 10: 1002.0, 20: 1004.0, 30: 1006.0})
    speed = external_trainer.throughput(found, started, ConfigDict({"batch_size": 8}))
    # Step 5 was logged before this call (a resumed run): 20 steps in 4 s after it.
    assert (speed.steps_per_second, speed.examples_per_second,
            speed.first_step_seconds) == (5.0, 40.0, 2.0)
    assert np.isnan(external_trainer.throughput(found, 2000.0, ConfigDict()).steps_per_second)


@pytest.mark.parametrize("trainer", ["returns_curves", "returns_step_mapping", "writes_jsonl"])
def test_a_trainers_curves_become_the_trial_result_and_metrics(tmp_path, in_project, capsys,
                                                               trainer):
    project = in_project(toy_project(tmp_path, trainer=f"toytrain:{trainer}", num_steps=60))
    assert run_cli("train", "--config", "baseline.py", "--config.learning_rate=0.3",
                   "--workdir", "w") == 0
    assert capsys.readouterr().out.startswith("done: w; steps 60/60; best eval_error")
    truth = toy_curve(0.3, 60)
    result = read_json(str(project / "w" / "result.json"))
    assert result["status"] == "done" and result["goal"] == "minimize"
    assert result["best_step"] == min(truth, key=truth.get) == 60
    assert result["best"]["eval_error"] == pytest.approx(truth[60])
    records = [json.loads(line) for line in open(project / "w" / "metrics.jsonl")]
    assert [r["step"] for r in records] == sorted(truth)
    assert all(r["train/loss"] == r["train_loss"] for r in records)  # for the plots
    assert [r["eval_error"] for r in records] == pytest.approx(list(truth.values()))
    assert (project / "w" / "workdir").is_dir()
    # TensorBoard events as the loop writes them, with the objective for the HParams tab.
    events, _ = curves.read_event_files(str(project / "w" / "tensorboard"))
    assert events[60]["best/eval_error"] == pytest.approx(truth[60])
    assert events[30]["train/loss"] == pytest.approx(records[2]["train_loss"])


@pytest.mark.parametrize("trainer, at, reason", [("loss_turns_nan", 30, "non_finite"),
                                                 ("loss_explodes", 40, "loss_explosion")])
def test_a_diverging_trainer_is_a_diverged_trial_at_the_first_bad_step(tmp_path, in_project,
                                                                       trainer, at, reason):
    project = in_project(toy_project(tmp_path, trainer=f"toytrain:{trainer}"))
    assert run_cli("train", "--config", "baseline.py", "--workdir", "w") == 0
    result = read_json(str(project / "w" / "result.json"))
    assert (result["status"], result["steps"], result["best_step"]) == ("diverged", at, at - 10)
    assert result["reason"] == reason
    assert result["final"]["eval_error"] == pytest.approx(toy_curve(0.1, 60)[at - 10])


def test_a_trainer_whose_loss_returns_to_its_start_is_a_collapsed_trial(tmp_path, in_project):
    project = in_project(toy_project(tmp_path, trainer="toytrain:loss_collapses"))
    assert run_cli("train", "--config", "baseline.py", "--workdir", "w") == 0
    result = read_json(str(project / "w" / "result.json"))
    # Finite throughout, so only the collapse rule can make it infeasible.
    assert (result["status"], result["reason"], result["steps"]) == ("diverged", "collapsed", 60)
    # The same curve without the collapse trains to the end.
    project = in_project(toy_project(tmp_path / "healthy", trainer="toytrain:returns_curves"))
    assert run_cli("train", "--config", "baseline.py", "--workdir", "w") == 0
    assert read_json(str(project / "w" / "result.json"))["reason"] is None


def test_a_trainer_that_raises_is_a_failed_trial_with_its_traceback(tmp_path, in_project):
    project = in_project(toy_project(tmp_path, trainer="toytrain:raises"))
    assert run_cli("train", "--config", "baseline.py", "--workdir", "w") == 1
    error = (project / "w" / "error.txt").read_text()
    assert "Traceback" in error and "toytrain.py" in error
    assert error.strip().endswith("RuntimeError: the data loader ran dry")
    assert read_json(str(project / "w" / "result.json"))["status"] == "failed"


def test_a_metric_the_trainer_never_logged_fails_the_trial_naming_those_it_did(
        tmp_path, in_project, capsys):
    project = in_project(toy_project(tmp_path, trainer="toytrain:logs_other_metrics"))
    assert run_cli("train", "--config", "baseline.py", "--workdir", "w") == 1
    error = read_json(str(project / "w" / "result.json"))["error"]
    assert "metric 'eval_error' was not found in what trainer 'toytrain:logs_other_metrics' " \
           "returned or wrote" in error
    assert "(read: returned); metrics found: train_loss, valid_accuracy" in error


def test_trials_of_a_trainer_train_alone_and_workers_import_it_from_where_it_was_found(
        tmp_path, in_project):
    project = in_project(toy_project(tmp_path / "toy", budget=2))
    spec = StudySpec.load("study.py")
    store = StudyStore(str(tmp_path / "study"))
    runner.prepare(store, spec)
    ids = store.trial_ids()
    units = runner.make_units(store, ids, 4, slots=1, import_paths=runner.import_paths(spec))
    assert [u.trial_ids for u in units] == [(t,) for t in ids]
    assert all(u.import_paths == (str(project),) for u in units)
    from playbook.train import batched

    assert batched.group_key(read_json(os.path.join(store.trial_dir(ids[0]),
                                                    "config.json"))) is None


@pytest.mark.slow
def test_ray_workers_import_the_trainer_from_where_the_study_found_it(tmp_path):
    """The trainer's directory is on this process's sys.path only (not the working
    directory, which Ray's workers would get anyway)."""
    ray = pytest.importorskip("ray")
    from playbook.study import executors

    project = toy_project(tmp_path / "toy", budget=2)
    saved = list(sys.path)
    sys.path.append(str(project))
    try:
        spec = StudySpec.load(str(project / "study.py"))
        store = StudyStore(str(tmp_path / "study"))
        runner.prepare(store, spec)
        summary = runner.run(store, spec, executors.Ray(local_cpus=2))
    finally:
        sys.path[:] = saved
        sys.modules.pop("toytrain", None)
        ray.shutdown()
    assert sorted(summary.statuses.values()) == ["done"] * 4
    for trial_id in store.trial_ids():
        trial = read_json(os.path.join(store.trial_dir(trial_id), "trial.json"))
        truth = toy_curve(trial["nuisance"]["learning_rate"], trial["scientific"]["num_steps"])
        result = read_json(os.path.join(store.trial_dir(trial_id), "result.json"))
        assert result["best"]["eval_error"] == pytest.approx(min(truth.values()))
