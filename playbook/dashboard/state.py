"""What the dashboard shows, read from study directories as JSON-ready dicts.

`find_studies` lists the studies under a directory (itself, or its rounds);
`fingerprint` changes whenever a file the dashboard reads changes (so a page
polls cheaply); `study_view` and `trial_view` are the payloads of a study's page
and a trial's page. Everything is read through `playbook.analysis.load`, which
tolerates a study being written (torn lines, half-written or missing files,
trials appearing); a part that still fails to build is replaced by its error
message rather than failing the page. Nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from playbook import atomic, trial_files
from playbook.analysis import decisions, diagnostics, tally
from playbook.analysis.load import Study
from playbook.dashboard import figures
from playbook.errors import ConfigError
from playbook.goal import Goal
from playbook.study.store import StudyStore, check_trial_id

STUDY_FILE = "study.json"
MAX_DEPTH = 3  # how deep under the served directory studies are looked for
NEXT_ROUND_FILES = ("next_baseline.py", "next_study.py")
GROUPS = ("pending", "running", "done", "infeasible", "failed")
_TRIAL_FILES = (trial_files.TRIAL_FILE, trial_files.RESULT_FILE, trial_files.METRICS_FILE,
                trial_files.ATTEMPTS_FILE)

log = logging.getLogger(__name__)


def find_studies(directory: str | os.PathLike) -> list[str]:
    """The study directories at or under `directory` (absolute, sorted); ConfigError if none."""
    root = os.path.abspath(os.fspath(directory))
    if not os.path.isdir(root):
        raise ConfigError(f"'{root}' is not a directory; serve a study directory (with "
                          f"study.json) or a directory of studies")
    found = []
    for path, dirs, files in os.walk(root):
        depth = os.path.relpath(path, root).count(os.sep) + (path != root)
        if STUDY_FILE in files:
            found.append(path)
            dirs[:] = []  # a study's own folders hold no studies
        elif depth >= MAX_DEPTH:
            dirs[:] = []
        dirs.sort()
    if not found:
        raise ConfigError(f"'{root}' holds no study (no study.json in it or in its "
                          f"subdirectories up to {MAX_DEPTH} levels); create one with "
                          f"`playbook study --config STUDY --workdir DIR`")
    return sorted(found)


def fingerprint(study_dir: str) -> str:
    """A digest of the sizes and times of every file the views read."""
    digest = hashlib.sha1()
    store = StudyStore(study_dir)
    paths = [store.study_json, os.path.join(study_dir, decisions.DECISIONS_FILE),
             *(os.path.join(study_dir, name) for name in NEXT_ROUND_FILES)]
    for trial_id in store.trial_ids():
        paths += [os.path.join(store.trials_dir, trial_id, name) for name in _TRIAL_FILES]
    for path in paths:
        try:
            st = os.stat(path)
            digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            digest.update(f"{path}:-;".encode())
    return digest.hexdigest()[:16]


def _guarded(build: Callable[[], Any], what: str) -> Any:
    """`build()`, or {'error': ...} when a study in an odd state makes it fail."""
    try:
        return build()
    except Exception as e:  # noqa: BLE001 - one panel's failure must not take the page down.
        log.warning("dashboard: %s failed:\n%s", what, traceback.format_exc())
        return {"error": f"{what} failed: {type(e).__name__}: {e}"}


# -- a study's page ----------------------------------------------------------------------


def study_view(study_dir: str) -> dict[str, Any]:
    """Everything the study page shows."""
    version = fingerprint(study_dir)
    study = Study.load(study_dir)
    spec = study.spec
    findings = _guarded(lambda: [_finding(f) for f in diagnostics.diagnose(study)], "findings")
    return {
        "version": version,
        "name": spec.name, "description": spec.description, "root": study.root,
        "metric": study.metric, "goal": study.goal, "designer": spec.designer,
        "budget": spec.budget, "scientific": study.scientific_keys,
        "nuisance": study.nuisance_keys,
        "counts": _counts(tally.of(study).study),
        "progress": progress(study),
        "findings": findings,
        "comparison": _guarded(lambda: decisions.comparison_text(study), "comparison"),
        "next_round": next_round(study_dir),
        "trials": trial_rows(study),
        "default_curves": figures.default_curve_trials(study),
        "figures": {name: _guarded(lambda fig=fig: json.loads(figures.to_json(fig())),
                                   f"figure {name}")
                    for name, fig in _figure_builders(study).items()},
    }


def _figure_builders(study: Study) -> dict[str, Callable]:
    from playbook.analysis.plots import slug

    out = {f"axis_{slug(k)}": (lambda k=k: figures.axis_figure(study, k))
           for k in study.nuisance_keys}
    out["isolation"] = lambda: figures.isolation_figure(study)
    out["parallel"] = lambda: figures.parallel_figure(study)
    out["importance"] = lambda: figures.importance_figure(study)
    return out


def group(status: str) -> str:
    """The dashboard's status group: diverged trials are infeasible."""
    return "infeasible" if status == "diverged" else status


def _counts(count: tally.Count) -> dict[str, Any]:
    """The trials of the search by status group (`total` of them) and the seed reruns
    apart, as every view counts them (analysis.tally), with `text` saying so."""
    def groups(by_status):
        return {g: sum(n for s, n in by_status.items() if group(s) == g) for g in GROUPS}

    return {"total": count.trials, **groups(count.search),
            "reruns": {"total": count.rerun_trials, **groups(count.reruns)},
            "text": count.text()}


def progress(study: Study) -> list[dict[str, Any]]:
    """Per scientific value: its counts, its running trials (seed reruns too) with their
    step, and its best trial of the search (as `playbook status`: a seed rerun is not a
    search result)."""
    rows = []
    count = tally.of(study)
    for label in study.labels:
        c = count[label]
        mine = study.trials[study.trials["label"] == label]
        running = mine[mine["status"] == "running"]
        best = (None if c.best_trial is None else
                {"trial_id": c.best_trial, "objective": c.best_objective})
        rows.append({"label": label, **_counts(c), "best": best,
                     "running_trials": [{"trial_id": r["trial_id"], "step": _plain(r["steps"]),
                                         "max_train_steps": _plain(r["max_train_steps"])}
                                        for _, r in running.iterrows()]})
    return rows


def _finding(f: diagnostics.Finding) -> dict[str, Any]:
    return {"severity": f.severity, "code": f.code, "message": f.message,
            "recommendation": f.recommendation, "trials": list(f.trials)}


def trial_rows(study: Study) -> list[dict[str, Any]]:
    """The trials table: ids, values, status group and reason, objective, steps."""
    keys = [*study.scientific_keys, *study.nuisance_keys]
    rows = []
    for _, row in study.trials.iterrows():
        rows.append({"trial_id": row["trial_id"], "label": row["label"],
                     "status": row["status"], "group": group(row["status"]),
                     "reason": _plain(row.get("reason")),
                     "objective": _plain(row["objective"]), "best_step": _plain(row["best_step"]),
                     "steps": _plain(row["steps"]),
                     "max_train_steps": _plain(row["max_train_steps"]),
                     "repeats": _plain(row["repeats"]),
                     "values": {k: _plain(row[k]) for k in keys}})
    return rows


def next_round(study_dir: str) -> list[dict[str, str]]:
    """The next round's drafts (next_baseline.py, next_study.py) that exist, with their text."""
    out = []
    for name in NEXT_ROUND_FILES:
        path = os.path.join(study_dir, name)
        if os.path.isfile(path) and StudyStore(study_dir).escapes(path) is None:
            with open(path, encoding="utf-8", errors="replace") as f:
                out.append({"name": name, "text": f.read()})
    return out


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: NaN and pandas' NA as None, numpy numbers as Python's."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (str, int, bool)):
        return value
    try:
        return None if pd.isna(value) else str(value)
    except (TypeError, ValueError):
        return str(value)


# -- a trial's page ----------------------------------------------------------------------


def trial_view(study_dir: str, trial_id: str) -> dict[str, Any] | None:
    """A trial's config, result, curves, checkpoints and the command that retrains it;
    None for an id that is not a trial of the study."""
    try:
        check_trial_id(trial_id)
    except ConfigError:
        return None
    store = StudyStore(study_dir)
    if trial_id not in store.trial_ids():
        return None
    trial_dir = store.trial_dir(trial_id)
    study = Study.load(study_dir)
    row = study.trials[study.trials["trial_id"] == trial_id]
    metrics = sorted(set(study.curves.loc[study.curves["trial_id"] == trial_id, "metric"]))
    return {
        "trial_id": trial_id, "study": study.spec.name, "metric": study.metric,
        "row": trial_rows(study)[int(np.flatnonzero(study.trials["trial_id"] == trial_id)[0])]
        if len(row) else None,
        "trial": trial_files.read_record(trial_dir),
        "config": trial_files.read_config(trial_dir),
        "result": result.to_dict() if (result := trial_files.read_result(trial_dir)) else None,
        "error": _text(store, trial_files.path(trial_dir, trial_files.ERROR_FILE)),
        "checkpoints": checkpoints(store, trial_dir, study.metric, study.goal),
        "commands": retrain_commands(study_dir, trial_id),
        "curves": _guarded(lambda: json.loads(figures.to_json(figures.curves_figure(
            study, [trial_id], _curve_metrics(study.metric, metrics)))), "curves"),
    }


def _curve_metrics(metric: str, logged: Sequence[str]) -> list[str]:
    first = [m for m in ("train/loss", metric) if m in logged]
    return first + [m for m in logged if m not in first and not m.endswith("per_second")][:4]


def checkpoints(store: StudyStore, trial_dir: str, metric: str, goal: str) -> dict[str, Any]:
    """What `checkpoints/` holds, as train/checkpoints.py writes it (one orbax step directory
    per kept step, `checkpoints/<step>/`; an unfinished save's `<step>.orbax-checkpoint-tmp-*`
    is not a checkpoint): every kept step, the best (result.json's best checkpoint; while
    the trial runs, the best of the metrics saved with the steps) and the latest."""
    folder = os.path.join(trial_dir, "checkpoints")
    steps = []
    if os.path.isdir(folder) and store.escapes(folder) is None:
        steps = sorted(int(name) for name in os.listdir(folder)
                       if name.isdigit() and os.path.isdir(os.path.join(folder, name))
                       and store.escapes(os.path.join(folder, name)) is None)
    scored = {}  # the metric saved with each step that competes for best (orbax's file)
    for step in steps:
        saved = atomic.read_json(os.path.join(folder, str(step), "metrics", "metrics"))
        value = saved.get(metric) if isinstance(saved, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scored[step] = float(value)
    result = trial_files.read_result(trial_dir)
    named = os.path.basename(os.path.normpath(result.best_checkpoint)) \
        if result and result.best_checkpoint else ""
    best = (int(named) if named.isdigit() and int(named) in steps else
            max(scored, key=lambda s: (Goal.of(goal).score(scored[s]), s)) if scored else None)
    latest = steps[-1] if steps else None

    def kept(step: int) -> str:
        why = [w for w, s in (("best", best), ("latest", latest)) if s == step]
        return " and ".join(why) or ("saved with its metrics" if step in scored else "")

    return {"directory": folder, "best_step": best, "latest_step": latest,
            "best": None if best is None else os.path.join(folder, str(best)),
            "latest": None if latest is None else os.path.join(folder, str(latest)),
            "saved": [{"step": s, "path": os.path.join(folder, str(s)), "kept_as": kept(s)}
                      for s in steps]}


def retrain_commands(study_dir: str, trial_id: str) -> list[str]:
    """Shell lines that train the trial again outside the study: from the report's config
    file when the report wrote one (best trials), else from this page's config.py link
    (the page puts the download command first)."""
    import shlex

    report_config = os.path.join(study_dir, "report", "configs", f"trial_{trial_id}.py")
    config = report_config if os.path.isfile(report_config) else f"trial_{trial_id}.py"
    return [f"playbook train --config {shlex.quote(config)} --workdir runs/trial_{trial_id}"]


def config_source(study_dir: str, trial_id: str) -> str | None:
    """The trial's config as a Python config file for `playbook train`."""
    try:
        trial_dir = StudyStore(study_dir).trial_dir(trial_id)
    except ConfigError:
        return None
    config = trial_files.read_config(trial_dir)
    if config is None:
        return None
    doc = (f"The config of trial {trial_id} of the study in {study_dir}.\n\n"
           f"    playbook train --config trial_{trial_id}.py --workdir runs/trial_{trial_id}")
    return decisions.config_source(config, doc)


def _text(store: StudyStore, path: str) -> str | None:
    if not os.path.isfile(path) or store.escapes(path) is not None:
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-20000:]


def curves_view(study_dir: str, trial_ids: Sequence[str]) -> dict[str, Any]:
    """The training-curves figure of the chosen trials (unknown ids are left out)."""
    study = Study.load(study_dir)
    known = set(study.trials["trial_id"])
    chosen = [t for t in trial_ids if t in known][:50]
    return json.loads(figures.to_json(figures.curves_figure(study, chosen)))
