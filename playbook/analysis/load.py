"""Reading a study directory into pandas: one row per trial, and long training curves.

`load_study` gives the trials table (scientific and nuisance values, status,
objective, best step); `load_curves` gives every logged scalar as rows of
(trial_id, step, metric, value); `Study.load` bundles both with the study's spec,
which the plots and diagnostics take (they also accept a directory). Everything here tolerates a
study that is still running: a trial without result.json is pending or
running, a torn last line of metrics.jsonl is skipped, a half-written JSON file
reads as missing. Nothing is executed or unpickled; nothing is written.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from playbook import trial_files
from playbook.goal import Goal
from playbook.study.runner import describe
from playbook.study.spec import StudySpec
from playbook.study.store import StudyStore
from playbook.trial_files import ENDED, FINISHED, INFEASIBLE, STATUSES  # noqa: F401 - for analysis

# Columns of the trials table besides one per scientific and one per nuisance key.
TRIAL_COLUMNS = ("trial_id", "label", "status", "objective", "best_step", "max_train_steps",
                 "steps", "seed", "repeats", "index", "error", "steps_per_second",
                 "first_step_seconds", "reason", "chance")
CURVE_COLUMNS = ("trial_id", "step", "metric", "value")

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class Study:
    """A loaded study: its spec, its trials table and its curves (long format)."""

    root: str
    spec: StudySpec
    trials: pd.DataFrame
    curves: pd.DataFrame

    @property
    def metric(self) -> str:
        return self.spec.metric

    @property
    def goal(self) -> str:
        return self.spec.goal

    @property
    def scientific_keys(self) -> list[str]:
        return [k for k, _ in self.spec.scientific]

    @property
    def nuisance_keys(self) -> list[str]:
        return list(self.spec.nuisance)

    @property
    def labels(self) -> list[str]:
        """Every scientific value's label (`optimizer=adamw`), in declaration order."""
        return [describe(s) for s in self.spec.scientific_values()]

    @classmethod
    def load(cls, study_dir: str | os.PathLike) -> Study:
        """The study in `study_dir` with its trials and every trial's curves."""
        root = os.path.abspath(os.fspath(study_dir))
        spec = load_spec(root)
        trials = load_study(root, spec=spec)
        curves = load_curves(root, list(trials["trial_id"]))
        return cls(root=root, spec=spec, trials=trials, curves=curves)

    def curve(self, trial_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric of one trial; empty arrays if never logged."""
        return curve(self.curves, trial_id, metric)


def as_study(study: Study | str | os.PathLike) -> Study:
    """A loaded `Study`, loading it first when given a directory."""
    return study if isinstance(study, Study) else Study.load(study)


def load_spec(study_dir: str | os.PathLike) -> StudySpec:
    """The spec stored in study.json (ConfigError if the directory holds no study)."""
    return StudySpec.from_dict(StudyStore(os.fspath(study_dir)).read_study()["spec"])


def load_study(study_dir: str | os.PathLike, spec: StudySpec | None = None) -> pd.DataFrame:
    """One row per trial: trial_id, label, a column per scientific and per nuisance key,
    status (pending/running/done/diverged/failed), objective (NaN unless done),
    best_step, max_train_steps, steps (trained so far), seed, repeats, index, error,
    steps_per_second (steady state) and first_step_seconds (start of the trial's
    run to its first logged step: start-up and compilation, or their reuse), reason
    (why a trial is infeasible or failed, e.g. 'collapsed', 'timeout') and chance (the
    metric's value at chance, when known).

    `df.attrs` holds `study_dir`, `metric`, `goal`, `scientific` and `nuisance`
    (their keys). Seed reruns are rows too; their `repeats` names the trial they rerun.
    """
    store = StudyStore(os.fspath(study_dir))
    spec = spec or load_spec(study_dir)
    scientific = [k for k, _ in spec.scientific]
    nuisance = list(spec.nuisance)
    default_steps = _int(spec.baseline.get("max_train_steps", None))
    rows = [row for trial_id in store.trial_ids()
            if (row := _trial_row(store, trial_id, spec.metric, default_steps)) is not None]
    value_keys = [k for k in (*scientific, *nuisance) if k not in TRIAL_COLUMNS]
    columns = ["trial_id", *value_keys, *(c for c in TRIAL_COLUMNS if c != "trial_id")]
    records = []
    for row in rows:
        record = {k: row["nuisance"].get(k, np.nan) for k in nuisance}
        record.update({k: row["scientific"].get(k) for k in scientific})
        record.update({c: row[c] for c in TRIAL_COLUMNS})
        records.append(record)
    df = pd.DataFrame.from_records(records, columns=columns)
    for column in ("objective", "steps_per_second", "first_step_seconds", "chance"):
        df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    for column in ("best_step", "max_train_steps", "steps", "seed", "index"):
        df[column] = pd.array(df[column], dtype="Int64")
    df.attrs.update(study_dir=store.root, metric=spec.metric, goal=spec.goal,
                    scientific=scientific, nuisance=nuisance)
    return df


def _trial_row(store: StudyStore, trial_id: str, metric: str, default_steps: int | None
               ) -> dict[str, Any] | None:
    trial_dir = store.trial_dir(trial_id)
    meta = trial_files.read_record(trial_dir, warn=True)
    if meta is None:
        return None  # Not created yet (it appears on the next load), or damaged (warned).
    result = trial_files.read_result(trial_dir)
    config = trial_files.read_config(trial_dir, warn=True) or {}
    scientific = dict(meta.get("scientific") or {})
    status = result.status if result else "running" if _claimed(store, trial_id) else "pending"
    max_steps = (result.max_train_steps if result else 0) or _int(config.get("max_train_steps"))
    throughput = result.throughput if result else trial_files.Throughput()
    return {
        "trial_id": trial_id,
        "label": describe(scientific),
        "scientific": scientific,
        "nuisance": dict(meta.get("nuisance") or {}),
        "status": status,
        "objective": trial_files.objective(result, metric),
        "best_step": result.best_step if result else None,
        "max_train_steps": max_steps or default_steps,
        "steps": (result.steps if result else 0) or trial_files.last_step(trial_dir),
        "seed": _int(meta.get("seed", config.get("seed"))),
        "repeats": meta.get("repeats"),
        "index": _int(meta.get("index")),
        "error": result.error if result else None,
        "reason": result.cause if result else None,
        "chance": result.chance if result else None,
        "steps_per_second": throughput.steps_per_second,
        "first_step_seconds": throughput.first_step_seconds,
    }


def _claimed(store: StudyStore, trial_id: str) -> bool:
    try:
        return store.is_claimed(trial_id)
    except OSError:  # A read-only copy of a study: nobody can be training it here.
        return False


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


# -- curves ----------------------------------------------------------------------------


def load_curves(study_dir: str | os.PathLike, trial_ids: Iterable[str] | None = None
                ) -> pd.DataFrame:
    """Every scalar in the trials' metrics.jsonl as rows (trial_id, step, metric, value).

    Non-finite values (written as null) are NaN. Records of one step are merged,
    a later one winning (a resumed trial's rerun of a step counts). Unparseable
    lines, such as the torn last line of a trial being written, are skipped.
    """
    store = StudyStore(os.fspath(study_dir))
    ids = store.trial_ids() if trial_ids is None else list(trial_ids)
    frames = []
    for trial_id in ids:
        records = read_metrics_lenient(trial_files.path(store.trial_dir(trial_id),
                                                        trial_files.METRICS_FILE))
        rows = [(trial_id, step, metric, value) for step, scalars in records
                for metric, value in scalars.items()]
        if rows:
            frames.append(pd.DataFrame(rows, columns=CURVE_COLUMNS))
    if not frames:
        return pd.DataFrame({"trial_id": pd.Series(dtype=object), "step": pd.Series(dtype=int),
                             "metric": pd.Series(dtype=object),
                             "value": pd.Series(dtype=float)})
    curves = pd.concat(frames, ignore_index=True)
    curves["value"] = curves["value"].astype(float)
    return curves.sort_values(["trial_id", "metric", "step"], kind="stable", ignore_index=True)


def read_metrics_lenient(path: str) -> list[tuple[int, dict[str, float]]]:
    """(step, {metric: value}) in step order; a missing file is empty, bad lines are skipped.

    The last line may be torn while a trial writes it; a bad line before it is
    damage, and is logged with the file and line number.
    """
    try:
        records = trial_files.read_metrics(path, malformed="skip")
    except OSError:
        return []
    return [(record["step"], {key: float(value) for key, value in record.items()
                              if key != "step" and isinstance(value, (int, float))
                              and not isinstance(value, bool)}) for record in records]


def curve(curves: pd.DataFrame, trial_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `metric` for `trial_id`, accepting 'valid/x' or 'x' for either form."""
    mine = curves[curves["trial_id"] == trial_id]
    for name in _metric_names(metric):
        rows = mine[mine["metric"] == name]
        if len(rows):
            rows = rows.sort_values("step")
            return rows["step"].to_numpy(dtype=float), rows["value"].to_numpy(dtype=float)
    return np.zeros(0), np.zeros(0)


def _metric_names(metric: str) -> Sequence[str]:
    bare = metric.split("/", 1)[-1]
    return (metric, bare, f"valid/{bare}") if "/" in metric else (metric, f"valid/{metric}")


# -- selections ------------------------------------------------------------------------


def originals(trials: pd.DataFrame) -> pd.DataFrame:
    """The designer's trials, without seed reruns."""
    return trials[trials["repeats"].isna()]


def ranked(trials: pd.DataFrame, goal: str) -> pd.DataFrame:
    """Done original trials, best first."""
    done = originals(trials)
    done = done[(done["status"] == "done") & done["objective"].notna()]
    order = np.argsort(Goal.of(goal).sign * done["objective"].to_numpy(dtype=float), kind="stable")
    return done.iloc[order]


def best_few(trials: pd.DataFrame, goal: str, k: int | None = None) -> dict[str, pd.DataFrame]:
    """Per scientific label, its best done trials, best first.

    `k` defaults to a third of the label's done trials, at least 1 and at most 3:
    with 4 trials only the best counts as "the best few", so a lone trial near
    an edge in a small study is not called a pattern.
    """
    out = {}
    for label, group in ranked(trials, goal).groupby("label", sort=False):
        n = k if k is not None else min(3, max(1, len(group) // 3))
        out[label] = group.head(n)
    return out


def reasons(bad: pd.DataFrame) -> dict[str, int]:
    """Infeasible trials counted by why: a diverged trial's reason (collapsed, non_finite,
    loss_explosion; 'diverged' for results written before reasons were recorded), or
    'failed'."""
    whys = ["failed" if row["status"] == "failed" else row["reason"]
            if isinstance(row.get("reason"), str) else "diverged" for _, row in bad.iterrows()]
    return {r: whys.count(r) for r in sorted(set(whys), key=whys.index)}


def rerun_group(trials: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """A trial and its seed reruns (all statuses)."""
    return trials[(trials["trial_id"] == trial_id) | (trials["repeats"] == trial_id)]
