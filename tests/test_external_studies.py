"""Studies over code playbook does not ship: the examples of experiments/ run for
real, and copies of them outside the repository run under worker processes
through the `playbook` command, with their report, findings and comparison."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from external_code import ROOT, length_project, sine_project, spirals_project

from playbook import cli, external, trial_files
from playbook import config as config_lib
from playbook.analysis import Study
from playbook.dashboard import state
from playbook.study import progress
from playbook.study.spec import StudySpec
from playbook.study.store import StudyStore, read_json
from playbook.train import curves


@pytest.fixture
def forget_imports():
    """Modules imported from a test's directories are forgotten afterwards."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved
    for name in [n for n in sys.modules
                 if n in ("train", "sine", "lengthtrain") or n.startswith("experiments")]:
        sys.modules.pop(name)


def statuses(study_dir):
    store = StudyStore(str(study_dir))
    return {t: read_json(os.path.join(store.trial_dir(t), "result.json"))["status"]
            for t in store.trial_ids()}


@pytest.mark.slow
def test_the_own_trainer_example_runs_a_study_from_the_repository_root(
        tmp_path, monkeypatch, forget_imports, capsys):
    monkeypatch.chdir(ROOT)
    study_dir = tmp_path / "study"
    assert cli.main(["study", "--config", "experiments/own_trainer/study.py", "--workdir",
                     str(study_dir), "--config.budget=1", "--config.fixed.num_train_steps=40",
                     "--no_progress"]) == 0
    out = capsys.readouterr().out
    assert "best trial per scientific value (eval_accuracy, maximize):" in out
    assert statuses(study_dir) == {"0000": "done", "0001": "done"}
    trial = study_dir / "trials" / "0001"
    # The trainer's own files: TensorBoard events and orbax checkpoints in its workdir.
    assert curves.event_files(str(trial / "workdir"))
    assert os.listdir(trial / "workdir" / "checkpoints") == ["40"]
    result = read_json(str(trial / "result.json"))
    assert result["best_step"] == 40 and 0.3 < result["best"]["eval_accuracy"] <= 1.0
    config = read_json(str(trial / "config.json"))
    assert config["width"] == 64 and config["num_train_steps"] == 40


@pytest.mark.slow
def test_the_own_workload_example_trains_trials_together_on_the_loop(
        tmp_path, monkeypatch, forget_imports, capsys):
    from playbook.train import batched

    groups = []
    train_group = batched.train_group
    monkeypatch.setattr(batched, "train_group",
                        lambda configs, workdirs: groups.append(len(configs)) or
                        train_group(configs, workdirs))
    monkeypatch.chdir(ROOT)
    study_dir = tmp_path / "study"
    assert cli.main(["study", "--config", "experiments/own_workload/study.py", "--workdir",
                     str(study_dir), "--config.budget=2", "--config.fixed.max_train_steps=100",
                     "--trials_per_program", "2", "--no_progress"]) == 0
    assert groups == [2, 2]  # each depth's two trials in one program
    assert set(statuses(study_dir).values()) == {"done"}
    for trial_id in ("0000", "0001"):
        trial = study_dir / "trials" / trial_id
        assert os.path.isdir(trial / "checkpoints")
        best = read_json(str(trial / "result.json"))["best"]
        assert set(best) == {"valid/mse", "valid/mae"} and best["valid/mse"] < 0.6  # var ~0.5


def playbook_command(*args, cwd):
    """The installed `playbook` script (which, unlike `python -m`, does not put the
    working directory on sys.path), or the module where no script is installed."""
    script = os.path.join(os.path.dirname(sys.executable), "playbook")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "playbook"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))


def check_analysis(study_dir, labels, capsys):
    """The report the study wrote, and `playbook compare` naming each scientific value."""
    assert os.path.isfile(study_dir / "report" / "index.html")
    capsys.readouterr()
    assert cli.main(["compare", str(study_dir)]) == 0
    out = capsys.readouterr().out
    for label in labels:
        assert label in out


@pytest.mark.slow
def test_a_trainer_outside_the_repository_is_tuned_under_worker_processes(tmp_path, capsys):
    project = spirals_project(tmp_path / "spirals")
    source = (ROOT / "experiments" / "own_trainer" / "train.py").read_text()
    run = playbook_command("study", "--config", "study.py", "--workdir", "study", "--executor",
                           "processes", "--workers", "2", "--no_progress", cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "findings for study" in run.stdout and "width=8:" in run.stdout
    study_dir = project / "study"
    assert statuses(study_dir) == {"0000": "done", "0001": "done"}
    pids = {json.loads((study_dir / "trials" / t / "attempts.jsonl").read_text())["pid"]
            for t in ("0000", "0001")}
    assert os.getpid() not in pids
    for trial_id in ("0000", "0001"):
        records = [json.loads(line) for line in
                   open(study_dir / "trials" / trial_id / "metrics.jsonl")]
        assert [r["step"] for r in records] == [10, 20, 30, 40]
        assert all(r["train/loss"] == r["train_loss"] for r in records)
        assert "eval_accuracy" in records[1] and "eval_accuracy" in records[3]
        speed = read_json(str(study_dir / "trials" / trial_id / "result.json"))["throughput"]
        assert speed["steps_per_second"] > 0 and speed["first_step_seconds"] > 0
    check_analysis(study_dir, ["width=8", "width=32"], capsys)
    assert (project / "train.py").read_text() == source


@pytest.mark.slow
def test_a_workload_class_outside_the_repository_is_tuned_under_worker_processes(tmp_path,
                                                                                capsys):
    project = sine_project(tmp_path / "sine", budget=1)
    run = playbook_command("study", "--config", "study.py", "--workdir", "study", "--executor",
                           "processes", "--workers", "2", "--no_progress", cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "best trial per scientific value (valid/mse, minimize):" in run.stdout
    study_dir = project / "study"
    assert statuses(study_dir) == {"0000": "done", "0001": "done"}
    spec = read_json(str(study_dir / "study.json"))["spec"]
    assert spec["baseline"]["workload"] == "sine:SineRegression" and spec["goal"] == "minimize"
    check_analysis(study_dir, ["model.depth=1", "model.depth=2"], capsys)


def test_an_interrupted_trainer_trial_continues_from_its_workdir(tmp_path, monkeypatch,
                                                                 forget_imports):
    project = spirals_project(tmp_path / "spirals")
    monkeypatch.chdir(project)
    from playbook.train import external_trainer

    config = config_lib.load("playbook_baseline.py")
    trial_dir = tmp_path / "trial"
    # A run killed after step 20: its checkpoint and events are in the workdir.
    train_and_evaluate = external.load_trainer("train:train_and_evaluate")
    train_and_evaluate(config_lib.with_values(config, {"num_train_steps": 20}),
                       str(trial_dir / "workdir"))
    # tensorboardX names event files by the second they were opened: a resumption in
    # the same second would replace the first run's file.
    time.sleep(1.1)
    result = external_trainer.train_and_evaluate(config, trial_dir)
    assert (result.status, result.steps) == ("done", 40)
    files = curves.event_files(str(trial_dir / "workdir"))
    assert len(files) == 2
    from tensorboard.backend.event_processing import event_file_loader

    steps = {e.step for e in event_file_loader.EventFileLoader(files[1]).Load() if e.step}
    assert min(steps) == 30  # the second run started after the checkpoint of step 20
    records = [json.loads(line) for line in open(trial_dir / "metrics.jsonl")]
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    accuracy = {r["step"]: r["eval_accuracy"] for r in records if "eval_accuracy" in r}
    assert result.best_step == max(sorted(accuracy), key=lambda s: (accuracy[s], s))
    assert result.best["eval_accuracy"] == max(accuracy.values())


def commands(capsys):
    """`playbook ARGS...` in this process: its stdout, after checking it exited 0."""
    def run(*args):
        capsys.readouterr()
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert code == 0, err[-3000:]
        return out
    return run


def test_every_command_runs_on_a_study_of_a_trainer_whose_length_is_num_train_steps(
        tmp_path, monkeypatch, forget_imports, capsys):
    monkeypatch.chdir(length_project(tmp_path / "toy", "num_train_steps"))
    run = commands(capsys)
    run("study", "--config", "study.py", "--workdir", "study", "--no_progress", "--no_report")
    findings = run("report", "study")
    assert "best_step_late" in findings and os.path.isfile("study/report/index.html")
    status = run("status", "study")
    best = {r["label"]: (r["best"]["trial_id"], r["best"]["objective"])
            for r in state.progress(Study.load("study"))}
    for label, (trial_id, objective) in best.items():
        line = next(line for line in status.splitlines() if line.startswith(label))
        assert line.endswith(f"{objective:.4g} ({trial_id})")
    store, spec = StudyStore("study"), Study.load("study").spec
    records = store.trials(spec.metric)  # the progress bar, while trial 0000 is at step 20:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StudyStore, "trials", lambda self, metric: [
            dataclasses.replace(r, status="running", steps=20) if r.trial_id == "0000" else r
            for r in records])
        assert " running 0000@20/50 " in progress.line(store, spec)
    run("export", "study", "--format", "csv", "--out", "trials.csv")
    run("export", "study", "--format", "json", "--out", "trials.json")
    table = pd.read_csv("trials.csv", dtype={"trial_id": str})
    assert set(table["max_train_steps"]) == {50} and set(table["best_step"]) == {50}
    assert len(pd.read_json("trials.json", orient="table")) == 4

    run("rerun", "study", "--top", "1", "--seeds", "2", "--no_progress")
    compare = run("compare", "study")
    assert compare.startswith("study study: eval_error (minimize); baseline width=1\n")
    assert "width=2: " in compare and "(Welch, 2 vs 2 runs)" in compare
    assert "adopted width=1" in run("adopt", "study", "--value", "width=1")

    drafted = run("next", "study")  # crashed with a TypeError on max_train_steps before
    assert "* num_train_steps: 50 -> 100 (best_step_late:" in drafted
    assert "* log_every_steps: 10 -> 20 (best_step_late: scaled with num_train_steps" in drafted
    spec = StudySpec.load("study/next_study.py")
    assert spec.fixed["num_train_steps"] == 100 and spec.fixed["log_every_steps"] == 20
    run("study", "--config", "study/next_study.py", "--workdir", "round2", "--no_progress",
        "--no_report")
    result = trial_files.read_result("round2/trials/0000")
    assert (result.steps, result.max_train_steps, result.best_step) == (100, 100, 100)
    history = run("history", "round2")
    assert "round 1: study" in history and "changed num_train_steps: 50 -> 100" in history

    view = state.study_view(os.path.abspath("study"))
    panels = [view["findings"], view["comparison"], *view["figures"].values()]
    assert not [p for p in panels if isinstance(p, dict) and "error" in p]
    assert view["comparison"].splitlines()[0] == compare.splitlines()[0]
    for row in view["progress"]:  # the best of the search, as `playbook status`: no rerun
        assert (row["best"]["trial_id"], row["best"]["objective"]) == best[row["label"]]
        assert "-seed" not in row["best"]["trial_id"]


@pytest.mark.parametrize("declared", ["total_steps", None])
def test_the_next_round_lengthens_the_key_a_trainer_declares_or_says_it_cannot(
        tmp_path, monkeypatch, forget_imports, capsys, declared):
    monkeypatch.chdir(length_project(tmp_path / "toy", "total_steps", declared))
    run = commands(capsys)
    run("study", "--config", "study.py", "--workdir", "study", "--no_progress", "--no_report")
    drafted = run("next", "study")
    if declared:
        assert "* total_steps: 50 -> 100 (best_step_late:" in drafted
        assert StudySpec.load("study/next_study.py").fixed == {"total_steps": 100,
                                                                "log_every_steps": 20}
    else:
        assert ("= length: kept (best_step_late: no config key gives the trial's length "
                "(max_train_steps, num_train_steps, or the key the baseline names as "
                "length_key); change it by hand)") in drafted
        assert StudySpec.load("study/next_study.py").fixed == {}


@pytest.mark.parametrize("declared, error", [
    ("total_stepz", "length_key 'total_stepz' is not a key of the config (did you mean "
                    "'total_steps'?)"),
    ("metric", "length_key 'metric' is 'eval_error', not an integer")])
def test_a_length_key_that_names_no_integer_key_is_a_one_line_error_before_training(
        tmp_path, monkeypatch, forget_imports, capsys, declared, error):
    monkeypatch.chdir(length_project(tmp_path / "toy", "total_steps", declared))
    for command in (["study", "--config", "study.py", "--workdir", "study", "--dry_run"],
                    ["train", "--config", "baseline.py", "--workdir", "trial"]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"playbook: error: {error}") and err.count("\n") == 1
    assert not os.path.exists("study") and not os.path.exists("trial/workdir")
