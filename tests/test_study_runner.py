"""The study runner on real (synthetic) trials: resume, extension, failures, reruns,
concurrent runners, executors and status."""

import json
import os
import re
import subprocess
import sys

import pytest
from extra_modules import require
from study_templates import two_optimizer_study

from playbook import cli
from playbook import search as hp
from playbook.designers import Halton
from playbook.errors import ConfigError
from playbook.study import StudySpec, define, executors, runner
from playbook.study.store import StudyStore, read_json


@pytest.fixture
def study_file(root, tmp_path):
    def make(budget=2, steps=120, every=40, name="study.py"):
        return two_optimizer_study(tmp_path / name, budget=budget, steps=steps, every=every)
    return make


def results(study_dir):
    store = StudyStore(study_dir)
    out = {}
    for trial_id in store.trial_ids():
        result = read_json(os.path.join(store.trial_dir(trial_id), "result.json"))
        out[trial_id] = (result["status"], result["best_step"],
                         json.dumps(result["best"], sort_keys=True))
    return out


def cli_study(*args, **kw):
    return subprocess.run([sys.executable, "-m", "playbook", "study", *args, "--no_progress"],
                          capture_output=True, text=True, timeout=600, **kw)


def cli_study_pid(*args) -> tuple[subprocess.CompletedProcess, int]:
    """`playbook study` in a subprocess: what it returned, and the pid of its runner."""
    proc = subprocess.Popen([sys.executable, "-m", "playbook", "study", *args, "--no_progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def attempts(study_dir) -> dict[str, list[dict]]:
    """trial id -> the records of attempts.jsonl (one per start of the trial)."""
    store = StudyStore(study_dir)
    out = {}
    for trial_id in store.trial_ids():
        with open(os.path.join(store.trial_dir(trial_id), "attempts.jsonl")) as f:
            out[trial_id] = [json.loads(line) for line in f]
    return out


def test_study_runs_every_trial_once_and_a_second_run_reruns_nothing(study_file, tmp_path, capsys):
    workdir = str(tmp_path / "study")
    assert cli.main(["study", "--config", study_file(), "--workdir", workdir,
                     "--no_progress"]) == 0
    out = capsys.readouterr().out
    assert "best trial per scientific value (valid/error_rate, minimize):" in out
    store = StudyStore(workdir)
    assert store.trial_ids() == ["0000", "0001", "0002", "0003"]
    study = read_json(store.study_json)
    assert study["spec"]["budget"] == 2 and study["designer"] == {
        "name": "halton", "seed": 0, "drawn": 2}
    config = read_json(os.path.join(store.trial_dir("0001"), "config.json"))
    assert config["optimizer"] == "adamw" and config["max_train_steps"] == 120
    first = results(workdir)
    assert {status for status, _, _ in first.values()} == {"done"}  # no rate here diverges
    assert cli.main(["study", "--config", study_file(), "--workdir", workdir,
                     "--no_progress"]) == 0
    assert results(workdir) == first
    assert all(store.attempts(t) == 1 for t in store.trial_ids())


def test_other_study_config_on_same_directory_is_an_error_but_larger_budget_extends(
        study_file, tmp_path):
    workdir = str(tmp_path / "study")
    spec = StudySpec.load(study_file(budget=1))
    store = StudyStore(workdir)
    runner.prepare(store, spec)
    runner.run(store, spec, executors.Inline())
    before = results(workdir)
    assert len(before) == 2
    other = StudySpec.load(study_file(budget=1, steps=60, name="other.py"))
    with pytest.raises(ConfigError, match="differs from .*study.json in: baseline, fixed"):
        runner.prepare(store, other)
    bigger = StudySpec.load(study_file(budget=3, name="b3.py"))
    runner.prepare(store, bigger)
    with pytest.raises(ConfigError, match="budget 1 is smaller than the study's 3"):
        runner.prepare(store, spec)
    assert store.trial_ids() == [f"{i:04d}" for i in range(6)]
    # The extension continues the designer's sequence: same points as a fresh budget-3 study.
    fresh = bigger.trials(bigger.new_designer().suggest(3))
    stored = [read_json(os.path.join(store.trial_dir(t.trial_id), "trial.json")) for t in fresh]
    assert [s["nuisance"] for s in stored] == [json.loads(json.dumps(t.nuisance)) for t in fresh]
    runner.run(store, bigger, executors.Inline())
    after = results(workdir)
    assert {k: after[k] for k in before} == before
    assert len(after) == 6


def test_failed_trial_is_recorded_and_study_goes_on_and_retry_runs_it_again(root, tmp_path):
    baseline = str(root / "configs/synthetic_mlp.py")
    config = define(baseline=baseline, scientific={"data.num_train": [512, 8]},
                    nuisance={"learning_rate": hp.log(1e-3, 1e-2)},
                    fixed={"max_train_steps": 40, "eval_every_steps": 20}, budget=1)
    spec = StudySpec.from_config(config)
    store = StudyStore(str(tmp_path / "study"))
    runner.prepare(store, spec)
    summary = runner.run(store, spec, executors.Inline())
    assert summary.statuses == {"0000": "done", "0001": "failed"}
    error = open(os.path.join(store.trial_dir("0001"), "error.txt")).read()
    assert "Traceback" in error and "batch_size=32 is larger than the 8 training examples" in error
    assert runner.reset_failed(store, spec) == ["0001"]
    assert runner.run(store, spec, executors.Inline()).statuses == {"0001": "failed"}
    assert store.attempts("0001") == 2 and store.attempts("0000") == 1
    assert os.path.exists(os.path.join(store.trial_dir("0001"), "result.failed-1.json"))


def test_diverged_trials_are_infeasible_results(root, tmp_path):
    config = define(baseline=str(root / "configs/synthetic_mlp.py"),
                    scientific={"optimizer": ["sgd"]},
                    nuisance={"learning_rate": hp.log(1e4, 1e6)},
                    fixed={"max_train_steps": 60, "eval_every_steps": 20}, budget=2)
    spec = StudySpec.from_config(config)
    store = StudyStore(str(tmp_path / "study"))
    runner.prepare(store, spec)
    assert set(runner.run(store, spec, executors.Inline()).statuses.values()) == {"diverged"}
    records = store.trials(spec.metric)
    assert [r.objective for r in records] == [None, None]
    assert runner.best_per_scientific(store, spec)[0][1] is None


def test_status_reports_counts_and_best_on_a_half_finished_study(study_file, tmp_path, capsys):
    workdir = str(tmp_path / "study")
    spec = StudySpec.load(study_file())
    store = StudyStore(workdir)
    runner.prepare(store, spec)
    assert runner.run_trial(workdir, "0001") == "done"
    assert cli.main(["status", workdir]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["scientific", "pending", "running", "done", "diverged", "failed",
                              "reruns", "best"]
    nesterov = out[2].split()
    adamw = out[3].split()
    assert nesterov[:7] == ["optimizer=nesterov", "2", "0", "0", "0", "0", "-"]
    assert adamw[0] == "optimizer=adamw" and adamw[1] == "1"
    assert adamw[3] == "1" and adamw[-1] == "(0001)"


def test_seed_reruns_repeat_the_best_trials_with_new_seeds(study_file, tmp_path):
    workdir = str(tmp_path / "study")
    spec = StudySpec.load(study_file())
    store = StudyStore(workdir)
    runner.prepare(store, spec)
    runner.run(store, spec, executors.Inline())
    best = {json.dumps(s): b.trial_id for s, b in runner.best_per_scientific(store, spec)}
    created = runner.rerun(store, spec, top=1, seeds=2)
    assert sorted(created) == sorted(f"{t}-seed{j}" for t in best.values() for j in (1, 2))
    runner.run(store, spec, executors.Inline())
    for trial_id in created:
        trial = read_json(os.path.join(store.trial_dir(trial_id), "trial.json"))
        original = read_json(os.path.join(store.trial_dir(trial["repeats"]), "trial.json"))
        assert trial["nuisance"] == original["nuisance"]
        assert trial["seed"] == original["seed"] + int(trial_id[-1])
        # The new seed is the one the rerun trained with, and it trained to the end.
        config = read_json(os.path.join(store.trial_dir(trial_id), "config.json"))
        assert config["seed"] == trial["seed"]
        result = read_json(os.path.join(store.trial_dir(trial_id), "result.json"))
        assert result["status"] == "done" and result["steps"] == config["max_train_steps"]
    assert runner.rerun(store, spec, top=1, seeds=2) == []  # already there


@pytest.mark.slow
def test_two_runners_on_one_study_split_trials_without_duplicates(study_file, tmp_path):
    workdir = str(tmp_path / "study")
    path = study_file(budget=3)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, "-m", "playbook", "study", "--config", path,
                               "--workdir", workdir, "--no_progress"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        p.wait(timeout=600)
        assert p.returncode == 0, p.stderr.read().decode()[-2000:]
    store = StudyStore(workdir)
    assert len(store.trial_ids()) == 6
    attempts = [json.loads(line)["pid"] for t in store.trial_ids()
                for line in open(os.path.join(store.trial_dir(t), "attempts.jsonl"))]
    assert len(attempts) == 6              # each trial started exactly once
    assert len(set(attempts)) == 2         # and both runners did some of the work
    assert all(s == "done" for s, _, _ in results(workdir).values())


# SIGKILLs of a runner at chosen and random moments: tests/reliability/test_chaos.py.


@pytest.mark.slow
def test_processes_executor_runs_trials_in_worker_processes(study_file, tmp_path):
    workdir = str(tmp_path / "study")
    result, runner_pid = cli_study_pid("--config", study_file(budget=1), "--workdir", workdir,
                                       "--executor", "processes", "--workers", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(s == "done" for s, _, _ in results(workdir).values())
    started = attempts(workdir)
    assert sorted(started) == ["0000", "0001"]
    for trial_id, records in started.items():
        (record,) = records  # started once
        # In a process that the runner started, not in the runner itself.
        assert record["pid"] != runner_pid and record["ppid"] == runner_pid, (trial_id, record)


@pytest.mark.slow
def test_ray_executor_runs_the_study_on_a_local_cluster(study_file, tmp_path):
    require("ray", "ray")
    workdir = str(tmp_path / "study")
    result, runner_pid = cli_study_pid("--config", study_file(budget=1), "--workdir", workdir,
                                       "--executor", "ray", "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "best trial per scientific value" in result.stdout
    assert all(s == "done" for s, _, _ in results(workdir).values())
    started = attempts(workdir)
    assert sorted(started) == ["0000", "0001"]
    tasks = set()
    for trial_id, records in started.items():
        (record,) = records
        # Each unit is its own Ray task, run by a Ray worker process, not by the runner.
        assert record["pid"] != runner_pid, (trial_id, record)
        assert re.fullmatch(r"[0-9a-f]{16,}", record.get("ray_task", "")), (trial_id, record)
        tasks.add(record["ray_task"])
    assert len(tasks) == 2


def test_bayesopt_continues_a_quasi_random_study_warm_started_from_its_trials(
        study_file, tmp_path):
    workdir = str(tmp_path / "study")
    store = StudyStore(workdir)
    halton = StudySpec.load(study_file(budget=2, steps=60, every=30))
    runner.prepare(store, halton)
    runner.run(store, halton, executors.Inline())
    first = results(workdir)
    bayes = StudySpec.load(study_file(budget=4, steps=60, every=30))
    bayes = type(bayes).from_dict({**bayes.to_dict(), "designer": "bayesopt"})
    runner.prepare(store, bayes)
    assert store.trial_ids() == ["0000", "0001", "0002", "0003"]  # BO proposes as it runs
    runner.run(store, bayes, executors.Inline())
    assert store.trial_ids() == [f"{i:04d}" for i in range(8)]
    after = results(workdir)
    assert {k: after[k] for k in first} == first
    records = {r.trial_id: r for r in store.trials(bayes.metric)}
    halton_points = {r.point for r in records.values() if r.index < 2}
    for trial_id in ("0004", "0005", "0006", "0007"):
        record = records[trial_id]
        assert record.status in ("done", "diverged")
        assert record.point not in halton_points
        # Not the warm-start sequence: the model chose the point.
        warm = Halton(dim=2, seed=int(trial_id) % 2).points(record.index, record.index + 1)[0]
        assert record.point != pytest.approx(tuple(warm))
        # Nuisance values come from the BO point through the same search space.
        expected = bayes.trials([record.point], start_index=record.index)[int(trial_id) % 2]
        assert record.nuisance == pytest.approx(expected.nuisance)
    assert read_json(store.study_json)["designer"]["name"] == "bayesopt"
