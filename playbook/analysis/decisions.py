"""Deciding on a study: is a scientific value better than the baseline's beyond noise,
and adopting one as the next round's baseline with its evidence recorded.

Playbook ("Adoption"): rerun the best trials with other seeds to measure trial
variance; adopt a change only if it beats the baseline beyond both sides'
variance and is worth its complexity; record the decision and its evidence.
`compare_values` is a pure function of the trials table; `adopt` writes
STUDY_DIR/decisions.jsonl (appended) and STUDY_DIR/next_baseline.py, a config
file `playbook train --config` loads.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pprint
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from playbook import config as config_lib
from playbook.analysis import load as load_lib
from playbook.analysis.load import Study
from playbook.errors import ConfigError, closest
from playbook.study.runner import describe
from playbook.study.store import StudyStore, read_json

NOISE_FACTOR = 2.0  # a difference counts when it exceeds this many pooled rerun stds
DECISIONS_FILE = "decisions.jsonl"
NEXT_BASELINE_FILE = "next_baseline.py"


def rerun_command(study_dir: str) -> str:
    return f"playbook rerun {study_dir} --top 1 --seeds 3"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A scientific value's result: its best trial and that trial's seed reruns."""

    label: str
    scientific: dict[str, Any]
    trial_id: str | None      # best original trial (None: no done trial yet)
    best: float | None        # its objective
    mean: float | None        # mean over the best trial and its done reruns
    std: float | None         # their std (ddof 1), when at least two are done
    seeds: int                # done runs in the group (1 = no rerun)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A scientific value against the baseline's value."""

    value: Estimate
    baseline: Estimate
    difference: float | None  # improvement over the baseline (> 0 is better), of the means
    std: float | None         # pooled rerun std of both sides
    verdict: str              # baseline | better | worse | within_noise | no_reruns | no_result

    def sentence(self) -> str:
        v, b = self.value, self.baseline
        if self.verdict == "baseline":
            return f"{v.label} (baseline): {_describe(v)}"
        if self.verdict == "no_result":
            missing = v.label if v.mean is None else b.label
            return f"{v.label}: no done trial of {missing} yet; nothing to compare"
        how = "better" if self.difference > 0 else "worse" if self.difference < 0 else "equal"
        text = (f"{v.label}: {_describe(v)} vs baseline {b.mean:.4g}: {how} by "
                f"{abs(self.difference):.3g}")
        if self.verdict == "no_reruns":
            return f"{text}; trial variance unknown (no seed reruns yet)"
        relation = "exceeds" if self.verdict in ("better", "worse") else "is within"
        verdict = {"better": "a real improvement", "worse": "a real degradation",
                   "within_noise": "not distinguishable from noise"}[self.verdict]
        return (f"{text}; the difference {relation} {NOISE_FACTOR:g} x the pooled trial std "
                f"{self.std:.3g}: {verdict}")

    def evidence(self) -> dict[str, Any]:
        return {"value": dataclasses.asdict(self.value),
                "baseline": dataclasses.asdict(self.baseline),
                "difference": self.difference, "std": self.std, "verdict": self.verdict,
                "noise_factor": NOISE_FACTOR}


def _describe(e: Estimate) -> str:
    if e.mean is None:
        return "no done trial yet"
    if e.seeds > 1:
        return (f"{e.mean:.4g} ± {e.std:.3g} (mean of {e.seeds} seeds of trial {e.trial_id}, "
                f"which alone scored {e.best:.4g})")
    return f"{e.mean:.4g} (trial {e.trial_id})"


def estimate(trials: pd.DataFrame, scientific: Mapping[str, Any], goal: str) -> Estimate:
    """The best original trial of `scientific` and the spread of its seed reruns."""
    label = describe(dict(scientific))
    ranked = load_lib.ranked(trials, goal)
    ranked = ranked[ranked["label"] == label]
    if ranked.empty:
        return Estimate(label, dict(scientific), None, None, None, None, 0)
    best = ranked.iloc[0]
    group = load_lib.rerun_group(trials, best["trial_id"])
    values = group.loc[(group["status"] == "done") & group["objective"].notna(), "objective"]
    values = values.to_numpy(dtype=float)
    std = float(np.std(values, ddof=1)) if len(values) >= 2 else None
    return Estimate(label, dict(scientific), str(best["trial_id"]), float(best["objective"]),
                    float(np.mean(values)), std, len(values))


def pooled_std(estimates: Sequence[Estimate]) -> float | None:
    """sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)) over estimates with reruns."""
    with_reruns = [e for e in estimates if e.std is not None and e.seeds >= 2]
    dof = sum(e.seeds - 1 for e in with_reruns)
    if not dof:
        return None
    return math.sqrt(sum((e.seeds - 1) * e.std ** 2 for e in with_reruns) / dof)


def baseline_scientific(scientific: Sequence[tuple[str, Sequence[Any]]], baseline
                        ) -> dict[str, Any]:
    """The baseline config's value of each scientific key, or the key's first value when the
    baseline's is not among those compared."""
    out = {}
    for key, values in scientific:
        value = config_lib.get(baseline, key) if config_lib.has(baseline, key) else None
        out[key] = value if value in tuple(values) else values[0]
    return out


def compare_values(trials: pd.DataFrame, spec) -> list[Comparison]:
    """Every scientific value against the baseline's value, baseline first."""
    base_values = baseline_scientific(spec.scientific, spec.baseline)
    base = estimate(trials, base_values, spec.goal)
    out = []
    for scientific in spec.scientific_values():
        value = estimate(trials, scientific, spec.goal)
        if scientific == base_values:
            out.insert(0, Comparison(value, base, 0.0, value.std, "baseline"))
            continue
        if value.mean is None or base.mean is None:
            out.append(Comparison(value, base, None, None, "no_result"))
            continue
        difference = load_lib.sign(spec.goal) * (base.mean - value.mean)
        std = pooled_std([value, base])
        if std is None:
            verdict = "no_reruns"
        elif abs(difference) > NOISE_FACTOR * std:
            verdict = "better" if difference > 0 else "worse"
        else:
            verdict = "within_noise"
        out.append(Comparison(value, base, difference, std, verdict))
    return out


def comparison_text(study: Study | str | os.PathLike) -> str:
    """The comparison as the lines `playbook compare` prints."""
    study = load_lib.as_study(study)
    comparisons = compare_values(study.trials, study.spec)
    base = comparisons[0].baseline if comparisons else None
    lines = [f"study {study.spec.name}: {study.metric} ({study.goal}); baseline "
             f"{base.label if base else '?'}"]
    lines += [f"  {c.sentence()}" for c in comparisons]
    if any(c.verdict == "no_reruns" for c in comparisons):
        lines.append(f"no seed reruns yet, so trial variance is unknown: run "
                     f"`{rerun_command(study.root)}` and compare again")
    elif any(c.value.seeds == 1 or c.baseline.seeds == 1 for c in comparisons
             if c.verdict in ("better", "worse", "within_noise")):
        lines.append(f"only one side of some comparisons has seed reruns; rerun the others "
                     f"with `{rerun_command(study.root)}` for both sides' variance")
    return "\n".join(lines)


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
    meta = read_json(os.path.join(StudyStore(study.root).trial_dir(comparison.value.trial_id),
                                  "trial.json")) or {}
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
    write_text_atomic(path, config_source(config_lib.to_dict(config), doc))
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


def write_text_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a report from its readers.
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
