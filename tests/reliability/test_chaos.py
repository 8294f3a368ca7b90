"""Chaos: a real study whose runner is SIGKILLed again and again still ends as if never
interrupted, each trial finished exactly once, no finished result ever rewritten.

The kills come at chosen moments (tests/reliability/killpoints.py: while trials
are created, while study.json is replaced, right after a claim, in the middle
of a metrics.jsonl line, with a checkpoint save in flight, between writing
result.json's temporary file and renaming it, right after the rename) and at
seeded random delays from outside. Run with `-s` to see the tally.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time

import pytest

from playbook.analysis.load import load_study
from playbook.study.store import StudyStore, read_json
from playbook.trial_files import read_records

from .study_files import (
    KILLPOINTS,
    attempts,
    curves,
    env,
    playbook,
    result_hashes,
    results,
    study_args,
    write_study,
)

# (moment, occurrence in that run): every moment at least once, in study order.
KILL_POINTS = [("trial_json", 2), ("study_json", 1), ("attempt", 1), ("metrics_line", 2),
               ("checkpoint", 1), ("result_tmp", 1), ("result_done", 1), ("checkpoint", 3),
               ("metrics_line", 5), ("attempt", 1), ("result_tmp", 1)]


class Runner:
    """Drives tests/reliability/killpoints.py: each `run` is a fresh runner process."""

    def __init__(self, ledger: str, log: str):
        self.log = log
        # Unbuffered, so that select() sees every line the harness wrote.
        self.proc = subprocess.Popen([sys.executable, KILLPOINTS, ledger], env=env(), bufsize=0,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, argv: list[str], point: str = "none", count: int = 0,
            kill_after: float | None = None) -> int:
        """Runs `playbook ARGV`; its exit code, -9 when it was SIGKILLed."""
        self.proc.stdin.write(json.dumps({"point": point, "count": count, "argv": argv,
                                          "log": self.log}).encode() + b"\n")
        pid = int(self.proc.stdout.readline().decode().split()[1])
        if kill_after is not None:
            ready, _, _ = select.select([self.proc.stdout], [], [], kill_after)
            if not ready:  # Still running (not reaped before "exit"): kill it from outside.
                os.kill(pid, signal.SIGKILL)
        reply = self.proc.stdout.readline().decode().split()
        assert reply and reply[0] == "exit", f"the runner harness died; see {self.log}"
        return int(reply[1])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _damage(workdir: str) -> dict[str, bool]:
    """Which half-done writes a kill left in the study directory."""
    seen = {"torn metrics.jsonl line": False, "result.json temporary, no result.json": False,
            "orbax temporary checkpoint": False}
    for trial_id in StudyStore(workdir).trial_ids():
        trial_dir = os.path.join(workdir, "trials", trial_id)
        names = os.listdir(trial_dir)
        metrics = os.path.join(trial_dir, "metrics.jsonl")
        if os.path.exists(metrics) and not open(metrics, "rb").read().endswith(b"\n"):
            seen["torn metrics.jsonl line"] = True
        if "result.json" not in names and any(n.startswith("result.json.tmp") for n in names):
            seen["result.json temporary, no result.json"] = True
        checkpoints = os.path.join(trial_dir, "checkpoints")
        if os.path.isdir(checkpoints) and any("orbax-checkpoint-tmp" in n
                                              for n in os.listdir(checkpoints)):
            seen["orbax temporary checkpoint"] = True
    return seen


class Witness:
    """Checks the study directory between runs: finished results never change, and
    nothing is reported finished that has no result put in place by a runner."""

    def __init__(self, workdir: str, ledger: str):
        self.workdir, self.ledger = workdir, ledger
        self.first_seen: dict[str, tuple[str, int, int]] = {}
        self.checks = 0

    def ledger_entries(self) -> list[dict]:
        if not os.path.exists(self.ledger):
            return []
        with open(self.ledger) as f:
            return [json.loads(line) for line in f if line.strip()]

    def check(self) -> None:
        for trial_id, seen in result_hashes(self.workdir).items():
            first = self.first_seen.setdefault(trial_id, seen)
            assert seen == first, f"result.json of trial {trial_id} changed after it was written"
        written = {e["trial"] for e in self.ledger_entries()}
        assert set(self.first_seen) == written
        if os.path.exists(StudyStore(self.workdir).study_json):
            table = load_study(self.workdir)
            finished = set(table.loc[table["status"].isin(["done", "diverged", "failed"]),
                                     "trial_id"])
            assert finished == written, "a trial is reported finished without its result"
            assert set(table["status"]) <= {"pending", "done", "diverged"}
        self.checks += 1


@pytest.mark.slow
def test_sigkilled_runner_resumes_every_time_and_ends_as_if_never_interrupted(tmp_path):
    config = write_study(tmp_path, budget=4)
    workdir, ledger = str(tmp_path / "chaos"), str(tmp_path / "ledger.jsonl")
    runner = Runner(ledger, str(tmp_path / "runs.log"))
    reference = str(tmp_path / "reference")
    assert runner.run(study_args(config, reference)) == 0, open(runner.log).read()[-3000:]
    os.unlink(ledger)
    witness = Witness(workdir, ledger)
    kills: dict[str, int] = {}
    in_flight: dict[str, int] = {}  # kills that caught orbax with a save on disk half-done
    argv = study_args(config, workdir)
    rng = random.Random(0)
    # The chosen moments first (each is sure to come: they need three of the eight
    # trials), then SIGKILLs from outside after seeded random delays.
    schedule: list[tuple[str, float]] = list(KILL_POINTS)
    schedule += [("random delay", rng.uniform(0.2, 1.0)) for _ in range(3)]
    for point, arg in schedule:
        if point == "random delay":
            code = runner.run(argv, kill_after=arg)
        else:
            code = runner.run(argv, point, arg)
        assert code in (-signal.SIGKILL, 0), open(runner.log).read()[-3000:]
        if code == -signal.SIGKILL:
            kills[point] = kills.get(point, 0) + 1
            seen = _damage(workdir)
            # The kill left exactly the half-done write it was aimed at.
            assert point != "metrics_line" or seen["torn metrics.jsonl line"]
            assert point != "result_tmp" or seen["result.json temporary, no result.json"]
            if point == "checkpoint" and seen["orbax temporary checkpoint"]:
                in_flight["checkpoint save"] = in_flight.get("checkpoint save", 0) + 1
        witness.check()
    assert runner.run(argv) == 0, open(runner.log).read()[-3000:]
    runner.close()
    witness.check()

    total = sum(kills.values())
    print(f"\nchaos: {total} SIGKILLs survived ({', '.join(f'{k} {n}' for k, n in kills.items())});"
          f" {in_flight.get('checkpoint save', 0)} left a half-written orbax checkpoint;"
          f" {witness.checks} directory checks")
    assert total >= 10
    assert {p for p, _ in KILL_POINTS} <= set(kills)
    # The same study as the uninterrupted one: every trial, status, best step and metric.
    assert results(workdir) == results(reference)
    assert len(results(workdir)) == 8
    assert curves(workdir) == curves(reference)
    # Each trial ended exactly once: one result.json put in place, never replaced.
    entries = witness.ledger_entries()
    assert sorted(e["trial"] for e in entries) == sorted(results(reference))
    hashes = result_hashes(workdir)
    assert all(hashes[e["trial"]][0] == e["sha256"] for e in entries)
    # The temporaries of the killed writes were cleared by the runs after them.
    left = [os.path.join(d, n) for d, _, names in os.walk(workdir) for n in names
            if n.startswith(".tmp-") or ".tmp-" in n]
    assert left == []
    # No trial was started again once finished.
    for trial_id, starts in attempts(workdir).items():
        finished_at = os.stat(os.path.join(workdir, "trials", trial_id, "result.json")).st_mtime
        assert starts and all(a["time"] <= finished_at for a in starts)
    assert sum(len(s) for s in attempts(workdir).values()) <= 8 + total


@pytest.mark.slow
def test_sigkilled_runner_training_trial_groups_loses_no_trial_and_rewrites_no_result(tmp_path):
    """With `--trials_per_program 2` trials train in vmapped pairs; after a kill a trial
    may resume in another pair or alone, whose floats round differently: results agree
    with an uninterrupted run to float tolerance, and every invariant holds exactly."""
    config = write_study(tmp_path, budget=3)
    workdir, ledger = str(tmp_path / "chaos"), str(tmp_path / "ledger.jsonl")
    runner = Runner(ledger, str(tmp_path / "runs.log"))
    reference = str(tmp_path / "reference")
    argv = study_args(config, workdir, "--trials_per_program", "2")
    assert runner.run(study_args(config, reference, "--trials_per_program", "2")) == 0
    os.unlink(ledger)
    witness = Witness(workdir, ledger)
    kills = 0
    for point, count in [("attempt", 2), ("metrics_line", 3), ("checkpoint", 2),
                         ("result_tmp", 1), ("result_done", 1), ("checkpoint", 5)]:
        code = runner.run(argv, point, count)
        assert code in (-signal.SIGKILL, 0), open(runner.log).read()[-3000:]
        kills += code == -signal.SIGKILL
        witness.check()
    assert runner.run(argv) == 0, open(runner.log).read()[-3000:]
    runner.close()
    witness.check()
    print(f"\nchaos with trial groups: {kills} SIGKILLs survived")
    assert kills == 6
    got, want = results(workdir), results(reference)
    assert sorted(got) == sorted(want) and len(got) == 6
    for trial_id, result in want.items():
        assert got[trial_id]["status"] == result["status"]
        for key, value in result["best"].items():
            assert got[trial_id]["best"][key] == pytest.approx(value, rel=1e-3, abs=1e-3)
    assert sorted(e["trial"] for e in witness.ledger_entries()) == sorted(want)


def _worker_pids(workdir: str, parent: int) -> dict[str, int]:
    """Trials being trained now by a worker (not the parent), by the pid of their last start."""
    running = {}
    for trial_id, starts in attempts(workdir).items():
        trial_dir = os.path.join(workdir, "trials", trial_id)
        if starts and starts[-1]["pid"] != parent and not os.path.exists(
                os.path.join(trial_dir, "result.json")):
            running[trial_id] = starts[-1]["pid"]
    return running


def _trained_steps(workdir: str, trial_id: str) -> int:
    from playbook.trial_files import last_step

    return last_step(os.path.join(workdir, "trials", trial_id))


@pytest.mark.slow
def test_killed_worker_process_costs_only_its_trials_steps_in_flight(tmp_path):
    config = write_study(tmp_path, budget=1, steps=800)
    reference = str(tmp_path / "reference")
    done = playbook(*study_args(config, reference))
    assert done.returncode == 0, done.stderr[-3000:]

    workdir = str(tmp_path / "workers")
    runner = subprocess.Popen(
        [sys.executable, "-m", "playbook", *study_args(config, workdir),
         "--executor", "processes", "--workers", "2"],
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and runner.poll() is None and time.monotonic() < deadline:
        for trial_id, pid in _worker_pids(workdir, runner.pid).items():
            # Mid-training, a committed checkpoint behind it: step 120's record is written
            # after the save of step 80 began, which waited for step 40's to finish.
            if _trained_steps(workdir, trial_id) >= 120:
                os.kill(pid, signal.SIGKILL)
                victim = (trial_id, pid)
                break
        time.sleep(0.02)
    out, err = runner.communicate(timeout=600)
    assert victim is not None, "no worker was caught training"
    assert runner.returncode == 0, err[-3000:]
    # The victim's second run picked up from a checkpoint (evaluations every 40 steps),
    # not from scratch, and its metrics.jsonl holds each logged step once.
    resumed = read_json(os.path.join(workdir, "trials", victim[0], "result.json"))["resumed_from"]
    assert resumed >= 40 and resumed % 40 == 0
    steps = [r["step"] for r in read_records(os.path.join(workdir, "trials", victim[0],
                                                          "metrics.jsonl"))]
    assert steps == sorted(set(steps)) and steps[-1] == 800
    print(f"\nworker {victim[1]} of trial {victim[0]} killed; the runner went on and the "
          f"trial resumed from its checkpoint at step {resumed}")
    assert results(workdir) == results(reference)
    assert curves(workdir) == curves(reference)
    starts = attempts(workdir)
    # The killed trial was started again (resumed), every other trial once: a new worker
    # took the killed one's place and the other worker's trials ran on.
    assert len(starts[victim[0]]) == 2 and victim[1] in {a["pid"] for a in starts[victim[0]]}
    assert all(len(s) == 1 for t, s in starts.items() if t != victim[0])
    assert "best trial per scientific value" in out
