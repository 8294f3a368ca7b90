"""Resumption: a trial killed mid-run (SIGKILL, no chance to clean up) and run
again on the same workdir ends exactly as an uninterrupted run: same best
step and metrics, same final parameters. Batches are a function of the step
and the dropout rng is `fold_in(rng, step)`, so on CPU the match is bitwise."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.train import loop
from playbook.trial_files import read_records

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The latest checkpoint every 100 steps (checkpoint_policy), a best one when it ends.
OVERRIDES = {"model.dropout": 0.1, "max_train_steps": 200, "eval_every_steps": 50,
             "log_every_steps": 25, "learning_rate": 0.01,
             "checkpoint.save_latest_every_seconds": 0, "checkpoint.save_latest_every_steps": 100}

# Trains, and sends itself SIGNAL (SIGKILL unless given) right after writing the
# metrics of step KILL_AT: a deterministic stand-in for a preempted machine. The
# sleep lets the checkpoint of the evaluation before it finish, so that the rerun
# resumes rather than restarts.
CHILD = r"""
import json, os, signal, sys, time
from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.train import loop, metrics

workdir, overrides, kill_at = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
sig = int(sys.argv[4]) if len(sys.argv) > 4 else signal.SIGKILL
write = metrics.MetricsWriter.write

def write_then_die(self, step, scalars):
    write(self, step, scalars)
    if step >= kill_at:
        time.sleep(1.0)
        os.kill(os.getpid(), sig)

metrics.MetricsWriter.write = write_then_die
loop.train_and_evaluate(config_lib.with_values(synthetic_mlp.get_config(), overrides), workdir)
"""


def config():
    return config_lib.with_values(synthetic_mlp.get_config(), OVERRIDES)


def params_of(workdir) -> list[np.ndarray]:
    step, state = loop.restore(config(), workdir, "latest")
    assert step == 200
    return jax.tree.leaves(jax.device_get(state.params))


def kill_mid_run(workdir, kill_at: int, overrides=None, sig=signal.SIGKILL) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(workdir),
                           json.dumps(overrides or OVERRIDES), str(kill_at), str(int(sig))],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == -sig, proc.stderr[-3000:]


@pytest.mark.slow
def test_a_killed_trial_resumes_to_the_same_result_as_an_uninterrupted_one(tmp_path):
    uninterrupted = loop.train_and_evaluate(config(), tmp_path / "whole")
    killed = tmp_path / "killed"
    kill_mid_run(killed, kill_at=125)
    assert not (killed / "result.json").exists()
    steps = {int(s) for s in os.listdir(killed / "checkpoints") if s.isdigit()}
    # The latest at 100 (every 100 steps); an earlier step only as the best before it.
    assert max(steps) == 100 and steps <= {50, 100}, steps

    resumed = loop.train_and_evaluate(config(), killed)

    assert resumed.status == "done"
    assert resumed.best_step == uninterrupted.best_step
    assert resumed.best == uninterrupted.best
    assert resumed.final == uninterrupted.final
    for a, b in zip(params_of(killed), params_of(tmp_path / "whole"), strict=True):
        np.testing.assert_array_equal(a, b)
    # Step 125 was logged before the kill and again after resuming from 100: the file
    # holds it once, and equals the uninterrupted run's record for record.
    losses = [(r["step"], r["train/loss"]) for r in read_records(killed / "metrics.jsonl")]
    assert losses == [(r["step"], r["train/loss"])
                      for r in read_records(tmp_path / "whole" / "metrics.jsonl")]
    assert [step for step, _ in losses] == list(range(25, 201, 25))


@pytest.mark.slow
def test_a_trial_killed_at_an_evaluation_resumed_by_playbook_train_logs_each_step_once(
        tmp_path):
    killed = tmp_path / "killed"
    kill_mid_run(killed, kill_at=150)  # its record written, its checkpoint never saved
    assert [r["step"] for r in read_records(killed / "metrics.jsonl")] == list(range(25, 151, 25))
    assert "150" not in os.listdir(killed / "checkpoints")

    overrides = [f"--config.{key}={value}" for key, value in OVERRIDES.items()]
    playbook = shutil.which("playbook")
    command = [playbook] if playbook else [sys.executable, "-m", "playbook"]
    resumed = subprocess.run([*command, "train", "--config", "configs/synthetic_mlp.py",
                              "--workdir", str(killed), *overrides], cwd=ROOT,
                             capture_output=True, text=True, timeout=240)

    assert resumed.returncode == 0 and resumed.stdout.startswith(f"done: {killed}; steps 200/200")
    assert f"resumed {killed} from step 100" in resumed.stderr
    steps = [r["step"] for r in read_records(killed / "metrics.jsonl")]
    assert steps == list(range(25, 201, 25))  # one record per logged step, none missing


def test_best_so_far_survives_a_resumption_whose_best_is_before_the_restart(tmp_path):
    # Selection by validation loss at a high constant rate: the best evaluation is early.
    overrides = {"metric": "valid/loss", "schedule": "constant", "learning_rate": 0.05,
                 "eval_every_steps": 25}
    cfg = config_lib.with_values(config(), overrides)
    whole = loop.train_and_evaluate(cfg, tmp_path / "whole")
    assert whole.best_step < 150

    partial = tmp_path / "partial"
    loop.train_and_evaluate(config_lib.with_values(cfg, {"max_train_steps": 150}), partial)
    os.remove(partial / "result.json")  # as if killed after the evaluation at 150
    resumed = loop.train_and_evaluate(cfg, partial)

    assert (resumed.best_step, resumed.best) == (whole.best_step, whole.best)
    assert resumed.best_checkpoint.endswith(f"checkpoints/{whole.best_step}")


def test_a_trial_killed_after_its_last_checkpoint_finishes_without_training(tmp_path):
    first = loop.train_and_evaluate(config(), tmp_path)
    os.remove(tmp_path / "result.json")
    metrics_before = (tmp_path / "metrics.jsonl").read_text()
    traces = dict(loop.TRACE_COUNTS)

    again = loop.train_and_evaluate(config(), tmp_path)

    assert (again.status, again.best_step, again.best, again.final) == (
        first.status, first.best_step, first.best, first.final)
    assert (tmp_path / "metrics.jsonl").read_text() == metrics_before
    assert dict(loop.TRACE_COUNTS) == traces


@pytest.mark.slow
def test_default_policy_a_trial_killed_before_its_first_save_resumes_from_the_start(tmp_path):
    # Default policy (a latest checkpoint every 60 s): a short trial writes none
    # before its end, so a kill loses its steps; the rerun ends as an uninterrupted run.
    overrides = {k: v for k, v in OVERRIDES.items() if not k.startswith("checkpoint.")}
    cfg = config_lib.with_values(synthetic_mlp.get_config(), overrides)
    whole = loop.train_and_evaluate(cfg, tmp_path / "whole")
    assert sorted(os.listdir(tmp_path / "whole" / "checkpoints")) == sorted(
        {str(whole.best_step), "200"})  # the best and the last, nothing between
    killed = tmp_path / "killed"
    kill_mid_run(killed, kill_at=125, overrides=overrides)
    assert not [s for s in os.listdir(killed / "checkpoints") if s.isdigit()]

    resumed = loop.train_and_evaluate(cfg, killed)

    assert (resumed.best_step, resumed.best, resumed.final) == (
        whole.best_step, whole.best, whole.final)


@pytest.mark.slow
def test_sigterm_writes_the_best_so_far_before_the_process_ends(tmp_path):
    overrides = {k: v for k, v in OVERRIDES.items() if not k.startswith("checkpoint.")}
    cfg = config_lib.with_values(synthetic_mlp.get_config(), overrides)
    whole = loop.train_and_evaluate(cfg, tmp_path / "whole")
    evaluations = {r["step"]: r["valid/error_rate"]
                   for r in read_records(tmp_path / "whole" / "metrics.jsonl")
                   if "valid/error_rate" in r}
    # The best of the evaluations before the signal (ties to the later step).
    best_before = max((s for s in evaluations if s <= 125),
                      key=lambda s: (-evaluations[s], s))
    stopped = tmp_path / "stopped"
    kill_mid_run(stopped, kill_at=125, overrides=overrides, sig=signal.SIGTERM)

    steps = [s for s in os.listdir(stopped / "checkpoints") if s.isdigit()]
    assert steps == [str(best_before)]
    resumed = loop.train_and_evaluate(cfg, stopped)
    assert (resumed.best_step, resumed.best, resumed.final) == (
        whole.best_step, whole.best, whole.final)
