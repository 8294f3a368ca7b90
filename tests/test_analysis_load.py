"""Loading a study directory into tables, on constructed studies (including ones still
running and with torn files). `write_study` and `write_trial` here build the study
directories the other analysis tests use."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.analysis import load as load_lib
from playbook.analysis import load_curves, load_study
from playbook.errors import ConfigError

NUISANCE = {
    "learning_rate": {"kind": "branches", "key": "optimizer", "branches": [
        ["nesterov", {"kind": "float", "low": 1e-3, "high": 1.0, "scale": "log"}],
        ["adamw", {"kind": "float", "low": 1e-4, "high": 1e-1, "scale": "log"}]]},
    "weight_decay": {"kind": "float", "low": 1e-6, "high": 1e-2, "scale": "log"},
}


def write_study(root, *, scientific=None, nuisance=None, budget=4, metric="valid/error_rate",
                goal="minimize", baseline=None, name="constructed"):
    """A study.json as the runner writes it; returns the study directory."""
    root = str(root)
    os.makedirs(os.path.join(root, "trials"), exist_ok=True)
    base = config_lib.to_dict(synthetic_mlp.get_config())
    base.update(baseline or {})
    spec = {"name": name, "description": "a study built by a test", "baseline": base,
            "scientific": scientific or {"optimizer": ["nesterov", "adamw"]},
            "nuisance": NUISANCE if nuisance is None else nuisance, "fixed": {},
            "budget": budget, "designer": "halton", "metric": metric, "goal": goal, "seed": 0}
    with open(os.path.join(root, "study.json"), "w") as f:
        json.dump({"version": 1, "created": 1.7e9, "spec": spec,
                   "designer": {"name": "halton", "seed": 0, "drawn": budget}}, f)
    return root


def smooth_curve(objective, max_steps=200, every=20, start=0.75, best_step=None):
    """Eval steps and a validation curve falling from `start` to `objective` at `best_step`
    (default: the end) and flat after it."""
    steps = np.arange(every, max_steps + 1, every, dtype=float)
    best_step = best_step or max_steps
    progress = np.minimum(steps / best_step, 1.0)
    return steps, objective + (start - objective) * (1 - progress) ** 2


def write_trial(root, trial_id, scientific, nuisance, *, status="done", objective=0.2,
                best_step=None, max_steps=200, seed=0, repeats=None, valid=None, train=None,
                metric="valid/error_rate", result=True, index=None, reason=None, chance=None):
    """A trial directory: trial.json, config.json, metrics.jsonl and (if `result`) result.json.

    `valid` / `train` are (steps, values) curves; by default smooth ones ending at
    `objective`. Diverged trials get a loss that explodes.
    """
    path = os.path.join(str(root), "trials", trial_id)
    os.makedirs(path, exist_ok=True)
    meta = {"trial_id": trial_id, "index": -1 if repeats else (index if index is not None else
                                                                int(trial_id[:4])),
            "scientific": scientific, "nuisance": nuisance, "point": [0.5] * len(nuisance),
            "seed": seed, "repeats": repeats}
    with open(os.path.join(path, "trial.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(path, "config.json"), "w") as f:
        values = {**scientific, **nuisance, "max_train_steps": max_steps, "seed": seed}
        json.dump(config_lib.to_dict(config_lib.with_values(synthetic_mlp.get_config(), values)),
                  f)
    if valid is None:
        valid = smooth_curve(objective if objective is not None else 0.5, max_steps,
                             best_step=best_step)
    if train is None:
        steps = np.arange(10, max_steps + 1, 10, dtype=float)
        train = (steps, 0.3 + 1.1 * np.exp(-steps / (0.3 * max_steps)))
        if status == "diverged":
            train = (steps[:5], np.array([1.4, 3.0, 40.0, 1e6, np.nan]))
            valid = (valid[0][:1], valid[1][:1])
    lines = [{"step": int(s), "train/loss": None if not math.isfinite(v) else float(v)}
             for s, v in zip(*train)]
    lines += [{"step": int(s), metric: float(v), "valid/loss": float(v) * 2}
              for s, v in zip(*valid)]
    lines.sort(key=lambda r: r["step"])
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in lines)
    if result:
        if best_step is None and status == "done":
            values = np.asarray(valid[1]) * (1 if "error" in metric or "loss" in metric else -1)
            best_step = int(valid[0][int(np.argmin(values))])
        done = status == "done"
        with open(os.path.join(path, "result.json"), "w") as f:
            json.dump({"status": status, "best_step": best_step if done else None,
                       "best": {metric: objective} if done else None,
                       "final": {}, "steps": max_steps if done else 50,
                       "max_train_steps": max_steps,
                       **({"error": "RuntimeError: boom"} if status == "failed" else {}),
                       **({"reason": reason} if reason else {}),
                       **({"chance": chance} if chance is not None else {})}, f)
    return path


@pytest.fixture
def study_dir(tmp_path):
    root = write_study(tmp_path / "study")
    write_trial(root, "0000", {"optimizer": "nesterov"},
                {"learning_rate": 0.1, "weight_decay": 1e-4}, objective=0.30)
    write_trial(root, "0001", {"optimizer": "adamw"},
                {"learning_rate": 1e-3, "weight_decay": 1e-4}, objective=0.25)
    write_trial(root, "0002", {"optimizer": "nesterov"},
                {"learning_rate": 0.9, "weight_decay": 1e-5}, status="diverged")
    write_trial(root, "0003", {"optimizer": "adamw"},
                {"learning_rate": 3e-2, "weight_decay": 1e-5}, result=False)  # running
    write_trial(root, "0001-seed1", {"optimizer": "adamw"},
                {"learning_rate": 1e-3, "weight_decay": 1e-4}, objective=0.26, seed=1,
                repeats="0001")
    return root


def test_one_row_per_trial_with_scientific_nuisance_and_result_columns(study_dir):
    df = load_study(study_dir)
    assert list(df["trial_id"]) == ["0000", "0001", "0001-seed1", "0002", "0003"]
    assert list(df.columns[:4]) == ["trial_id", "optimizer", "learning_rate", "weight_decay"]
    row = df.set_index("trial_id").loc["0001"]
    assert row["optimizer"] == "adamw" and row["learning_rate"] == 1e-3
    assert row["status"] == "done" and row["objective"] == 0.25
    assert row["best_step"] == 200 and row["max_train_steps"] == 200
    assert pd.isna(row["repeats"])
    assert df.set_index("trial_id").loc["0001-seed1", "repeats"] == "0001"
    assert df.attrs["metric"] == "valid/error_rate" and df.attrs["goal"] == "minimize"
    assert df.attrs["scientific"] == ["optimizer"]


def test_infeasible_and_unfinished_trials_have_no_objective(study_dir):
    df = load_study(study_dir).set_index("trial_id")
    assert df.loc["0002", "status"] == "diverged" and math.isnan(df.loc["0002", "objective"])
    assert df.loc["0003", "status"] == "pending" and math.isnan(df.loc["0003", "objective"])
    assert df.loc["0003", "steps"] == 200  # what metrics.jsonl has so far


def test_a_trial_being_trained_is_running(study_dir):
    from playbook.study.store import StudyStore

    with StudyStore(study_dir).claim("0003"):
        status = load_study(study_dir).set_index("trial_id").loc["0003", "status"]
    assert status == "running"


def test_torn_files_of_a_running_study_are_tolerated(study_dir):
    trial = os.path.join(study_dir, "trials", "0003")
    with open(os.path.join(trial, "metrics.jsonl"), "a") as f:
        f.write('{"step": 210, "train/lo')                     # torn last line
    with open(os.path.join(trial, "result.json"), "w") as f:
        f.write('{"status": "do')                              # half-written result
    os.makedirs(os.path.join(study_dir, "trials", "0004"))
    with open(os.path.join(study_dir, "trials", "0004", "trial.json"), "w") as f:
        f.write("{")                                           # trial being created
    df = load_study(study_dir)
    assert "0004" not in set(df["trial_id"])
    assert df.set_index("trial_id").loc["0003", "status"] == "pending"
    curves = load_curves(study_dir, ["0003"])
    assert curves["step"].max() == 200


def test_curves_are_long_with_nulls_as_nan(study_dir):
    curves = load_curves(study_dir)
    assert list(curves.columns) == ["trial_id", "step", "metric", "value"]
    assert set(curves["metric"]) == {"train/loss", "valid/error_rate", "valid/loss"}
    diverged = curves[(curves["trial_id"] == "0002") & (curves["metric"] == "train/loss")]
    assert diverged["value"].isna().sum() == 1 and diverged["value"].max() == 1e6
    only = load_curves(study_dir, ["0001"])
    assert set(only["trial_id"]) == {"0001"}
    steps, values = load_lib.curve(only, "0001", "error_rate")  # either form of the name
    assert steps[0] == 20 and values[-1] == pytest.approx(0.25)


def test_a_later_record_of_a_step_wins(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10, "train/loss": 2.0}\nnot json\n{"step": 10, "train/loss": 1.0,'
                    ' "valid/loss": null}\n')
    assert load_lib.read_metrics_lenient(str(path)) == [(10, {"train/loss": 1.0,
                                                              "valid/loss": pytest.approx(
                                                                  math.nan, nan_ok=True)})]


def test_an_empty_study_loads_as_an_empty_table(tmp_path):
    root = write_study(tmp_path / "empty")
    df = load_study(root)
    assert len(df) == 0 and "objective" in df.columns
    assert len(load_curves(root)) == 0


def test_a_directory_without_a_study_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not a study directory"):
        load_study(tmp_path)


def test_best_few_is_a_third_of_the_done_trials_at_most_three():
    df = pd.DataFrame({"trial_id": [f"{i:04d}" for i in range(12)], "label": ["a"] * 12,
                       "status": ["done"] * 12, "objective": np.arange(12.0),
                       "repeats": [None] * 12})
    assert list(load_lib.best_few(df, "minimize")["a"]["objective"]) == [0, 1, 2]
    assert list(load_lib.best_few(df.head(4), "maximize")["a"]["objective"]) == [3]
