"""Deciding on a study: adopting a scientific value as the next round's baseline with its
evidence recorded (the comparison itself is comparison.py, re-exported here).

Playbook ("Adoption"): rerun the best trials with other seeds to measure trial
variance; adopt a change only if it beats the baseline beyond both sides'
variance and is worth its complexity; record the decision and its evidence.
`adopt` writes
STUDY_DIR/decisions.jsonl (appended) and STUDY_DIR/next_baseline.py, a config
file `playbook train --config` loads.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pprint
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from playbook import atomic, trial_files
from playbook import config as config_lib
from playbook.analysis import load as load_lib
from playbook.analysis.comparison import (  # noqa: F401 - the comparison, re-exported
    Comparison,
    Estimate,
    baseline_scientific,
    compare_values,
    estimate,
    reference,
    rerun_command,
)
from playbook.analysis.comparison import comparison_text as _comparison_text
from playbook.analysis.load import Study
from playbook.errors import ConfigError, closest
from playbook.study.runner import describe
from playbook.study.store import StudyStore

DECISIONS_FILE = "decisions.jsonl"
NEXT_BASELINE_FILE = "next_baseline.py"


def comparison_text(study: Study | str | os.PathLike) -> str:
    """The comparison as the lines `playbook compare` prints (comparison.comparison_text)."""
    return _comparison_text(load_lib.as_study(study))


def best_value(study: Study) -> dict[str, Any] | None:
    """The scientific value whose best trial is best (None before any trial is done)."""
    ranked = load_lib.ranked(study.trials, study.goal)
    if ranked.empty:
        return None
    label = ranked.iloc[0]["label"]
    return next(s for s in study.spec.scientific_values() if describe(s) == label)


# -- adoption --------------------------------------------------------------------------


def parse_values(spec, items: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE strings as a scientific value of the study; ConfigError naming valid ones."""
    scientific = dict(spec.scientific)
    chosen: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"'{item}' is not KEY=VALUE; give e.g. "
                              f"{next(iter(scientific))}={scientific[next(iter(scientific))][0]}")
        if key not in scientific:
            raise ConfigError(f"'{key}' is not a scientific key of this study"
                              f"{closest(key, scientific)}; scientific keys: "
                              f"{', '.join(scientific)}")
        chosen[key] = _match(key, text.strip(), scientific[key])
    for key, values in scientific.items():
        if key not in chosen:
            if len(values) > 1:
                raise ConfigError(f"give a value for scientific '{key}' too (one of "
                                  f"{', '.join(map(str, values))}), e.g. {key}={values[0]}")
            chosen[key] = values[0]
    return {key: chosen[key] for key in scientific}


def _match(key: str, text: str, values: Sequence[Any]) -> Any:
    for value in values:
        if text in (str(value), repr(value)):
            return value
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                if float(text) == float(value):
                    return value
            except ValueError:
                pass
    raise ConfigError(f"'{text}' is not a value of scientific '{key}' in this study"
                      f"{closest(text, map(str, values))}; valid values: "
                      f"{', '.join(map(str, values))}")


def adopt(study: Study | str | os.PathLike, items: Sequence[str], findings: Sequence = ()
          ) -> dict[str, Any]:
    """Adopts the scientific value given as KEY=VALUE strings: appends the decision and
    its evidence to decisions.jsonl and writes next_baseline.py (the baseline with the
    adopted value and its best trial's nuisance values). Returns the decision record."""
    study = load_lib.as_study(study)
    scientific = parse_values(study.spec, items)
    label = describe(scientific)
    comparisons = {c.value.label: c for c in compare_values(study.trials, study.spec)}
    comparison = comparisons[label]
    if comparison.value.trial_id is None:
        raise ConfigError(f"{label} has no done trial in {study.root} yet; run the study "
                          f"until it does, or adopt another value")
    # The values as trial.json stores them: the table turns integers into floats next to NaN.
    meta = trial_files.read_record(StudyStore(study.root).trial_dir(comparison.value.trial_id)
                                   ) or {}
    nuisance = dict(meta.get("nuisance") or {})
    values = {**scientific, **nuisance}
    if config_lib.has(study.spec.baseline, "metric"):
        values["metric"] = study.metric  # The metric the study selected checkpoints by.
    config = config_lib.with_values(study.spec.baseline, values)
    path = os.path.join(study.root, NEXT_BASELINE_FILE)
    record = {
        # timezone.utc, not datetime.UTC: setup.cfg still allows Python 3.10.
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(  # noqa: UP017
            timespec="seconds"),
        "study": study.spec.name, "study_dir": study.root,
        "metric": study.metric, "goal": study.goal,
        "adopted": scientific, "trial_id": comparison.value.trial_id,
        "objective": comparison.value.best, "nuisance": nuisance,
        "comparison": comparison.evidence(),
        "findings": [{"severity": f.severity, "code": f.code, "message": f.message}
                     for f in findings if f.severity != "info"],
        "next_baseline": path,
    }
    doc = (f"Next round's baseline: {label} adopted from study '{study.spec.name}' "
           f"({study.root})\n\nwith the nuisance values of its best trial "
           f"{comparison.value.trial_id} ({study.metric} {comparison.value.best:.4g}).\n"
           f"Evidence: {comparison.sentence()}\n\n"
           f"    playbook train --config {path} --workdir runs/next_baseline")
    atomic.write_text(path, config_source(config_lib.to_dict(config), doc))
    with open(os.path.join(study.root, DECISIONS_FILE), "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=_plain) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return record


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (JSON and config values)."""
    return value.item() if isinstance(value, np.generic) else value


def config_source(config: dict[str, Any], docstring: str) -> str:
    """A Python config file whose get_config() returns `config` as a ConfigDict."""
    body = pprint.pformat(_literal(config), indent=1, width=100, sort_dicts=False)
    doc = docstring.replace('"""', "'''")
    return (f'"""{doc}\n"""\n\nfrom ml_collections import ConfigDict\n\n'
            f"CONFIG = {body}\n\n\n"
            f"def get_config() -> ConfigDict:\n    return ConfigDict(CONFIG)\n")


def _literal(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _literal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_literal(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config value {value} cannot be written to a config file")
    return _plain(value)
