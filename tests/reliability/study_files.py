"""Shared helpers of the reliability suite: a tiny real study, and its outcome read back.

The study trains the synthetic workload's MLP (seconds per trial on a CPU):
two optimizers, two quasi-random points each, evaluated and checkpointed every
40 steps (`checkpoint.save_latest_every_seconds=0`: a save at every evaluation, so
that kills can land in one). Its outcome is read with the project's own readers, and compared
field by field, so that a resumed study can be checked against one that ran
without interruption.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess
import sys

from study_templates import two_optimizer_study

from playbook.analysis.load import load_curves
from playbook.study.store import StudyStore, read_json

ROOT = pathlib.Path(__file__).resolve().parents[2]
KILLPOINTS = str(pathlib.Path(__file__).with_name("killpoints.py"))


# Fields of result.json that must be identical between an interrupted and an
# uninterrupted study (throughput is a timing; best_checkpoint is a path).
RESULT_FIELDS = ("status", "best_step", "best", "final", "steps", "max_train_steps", "metric",
                 "goal")


def write_study(directory: str | os.PathLike, budget: int = 2, steps: int = 160) -> str:
    return two_optimizer_study(os.path.join(os.fspath(directory),
                                            f"study_b{budget}_s{steps}.py"),
                               budget=budget, steps=steps, save_latest_every_seconds=0)


def run_study(directory: str | os.PathLike, budget: int = 2, steps: int = 160
              ) -> tuple[str, str]:
    """Writes the study config in `directory` and runs it there to the end, in this
    process: (study directory, config file)."""
    from playbook.study import StudySpec, executors, runner

    config = write_study(directory, budget=budget, steps=steps)
    workdir = os.path.join(os.fspath(directory), "study")
    spec, store = StudySpec.load(config), StudyStore(workdir)
    runner.prepare(store, spec)
    runner.run(store, spec, executors.Inline())
    return workdir, config


def env() -> dict[str, str]:
    return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))


def playbook(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs the `playbook` command in a fresh process."""
    return subprocess.run([sys.executable, "-m", "playbook", *args], capture_output=True,
                          text=True, timeout=timeout, env=env(), cwd=str(ROOT))


def study_args(config: str, workdir: str, *extra: str) -> list[str]:
    return ["study", "--config", config, "--workdir", workdir, "--no_progress", "--no_report",
            *extra]


def results(study_dir: str) -> dict[str, dict]:
    """trial id -> the comparable fields of its result.json (absent trials: no entry)."""
    store = StudyStore(study_dir)
    out = {}
    for trial_id in store.trial_ids():
        result = read_json(os.path.join(store.trial_dir(trial_id), "result.json"))
        if result is not None:
            out[trial_id] = {k: result.get(k) for k in RESULT_FIELDS}
    return out


def curves(study_dir: str) -> dict[tuple[str, int, str], float]:
    """(trial, step, metric) -> value of every logged scalar but the timing ones."""
    df = load_curves(study_dir)
    df = df[df["metric"] != "train/examples_per_second"]
    return {(t, int(s), m): float(v) for t, s, m, v in df.itertuples(index=False)}


def result_hashes(study_dir: str) -> dict[str, tuple[str, int, int]]:
    """trial id -> (SHA-256, inode, mtime_ns) of each result.json present."""
    store = StudyStore(study_dir)
    out = {}
    for trial_id in store.trial_ids():
        path = os.path.join(store.trial_dir(trial_id), "result.json")
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        out[trial_id] = (digest, stat.st_ino, stat.st_mtime_ns)
    return out


def attempts(study_dir: str) -> dict[str, list[dict]]:
    """trial id -> its attempts.jsonl records (one per start)."""
    store = StudyStore(study_dir)
    out = {}
    for trial_id in store.trial_ids():
        path = os.path.join(store.trial_dir(trial_id), "attempts.jsonl")
        try:
            with open(path) as f:
                out[trial_id] = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            out[trial_id] = []
    return out
