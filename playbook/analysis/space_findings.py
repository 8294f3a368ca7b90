"""Findings about a study's search space: best trials at a range's edge (`boundaries`,
`boundary_hits`, with the advice of ranges.py) and a budget too small for the number
of nuisance dimensions (`budget`). Also the helpers other checks share to read a
trial's range: `resolve` (the spec in force under conditions), `edge_side`, `bounds`.

Pure functions of the trials table and the spec, from the Deep Learning Tuning
Playbook's "Choosing the search space" and "Analyzing the results" (boundaries);
`diagnostics.diagnose` runs them with the others. Draws nothing, writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from playbook import search as hp
from playbook import trial_files
from playbook.analysis import load as load_lib
from playbook.analysis import ranges
from playbook.analysis.finding import Finding

EDGE_MARGIN = 0.1          # outer part of a range, in the spec's unit scale
# A sparsely sampled range: the best trial in the outer quarter with no trial of its
# scientific value sampled between it and the bound is at the edge of what was explored.
# With fewer ended trials than SPARSE_MIN_TRIALS the last point explored is chance.
SPARSE_MARGIN = 0.25
SPARSE_MIN_TRIALS = 4


def resolve(spec: hp.Spec | hp.Branches, context: Mapping[str, Any]) -> hp.Spec | None:
    """The spec in force for a trial whose values (baseline, scientific, nuisance) are `context`."""
    return hp.Dimension("", spec).resolve(context)


def edge_side(spec: hp.Spec, value: Any, margin: float = EDGE_MARGIN) -> str | None:
    """'low' or 'high' when `value` lies in the outer `margin` of the range (unit scale).

    Integer ranges and ordered discrete values count their end values as edges;
    unordered choices have no edges.
    """
    if isinstance(spec, hp.Choice) or value is None or (isinstance(value, float)
                                                        and math.isnan(value)):
        return None
    if isinstance(spec, hp.Discrete):
        if len(spec.values) < 3 or value not in spec.values:
            return None
        i = spec.values.index(value)
        return "low" if i == 0 else "high" if i == len(spec.values) - 1 else None
    if isinstance(spec, hp.Int):
        if value <= spec.low:
            return "low"
        if value >= spec.high:
            return "high"
        spec = hp.Float(low=float(spec.low), high=float(spec.high), scale=spec.scale)
    u = spec.to_unit(value)
    return "low" if u <= margin else "high" if u >= 1.0 - margin else None


def row_context(row: pd.Series, context: Mapping[str, Any], keys: Sequence[str]
                 ) -> dict[str, Any]:
    values = dict(context)
    for key in keys:
        value = row.get(key)
        if not (isinstance(value, float) and math.isnan(value)):
            values[key] = value
    return values


def value_columns(trials: pd.DataFrame) -> list[str]:
    """The scientific and nuisance columns of a trials table."""
    return [c for c in trials.columns if c not in load_lib.TRIAL_COLUMNS]


def boundary_hits(trials: pd.DataFrame, nuisance: Mapping[str, hp.Spec | hp.Branches],
                  goal: str, key: str, context: Mapping[str, Any],
                  margin: float = EDGE_MARGIN) -> list[dict[str, Any]]:
    """The best few trials of each scientific value that sit near an edge of `key`'s range.

    Each hit: label, trial_id, side ('low'/'high'), value, the range (low, high) and
    the branch spec in force.
    """
    keys = value_columns(trials)
    hits = []
    for label, best in load_lib.best_few(trials, goal).items():
        for rank, (_, row) in enumerate(best.iterrows()):
            value = row.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            spec = resolve(nuisance[key], row_context(row, context, keys))
            side = edge_side(spec, value, margin) if spec is not None else None
            sparse = side is None and rank == 0 and spec is not None
            if sparse:
                side = _outermost(trials, label, key, nuisance[key], spec, value, context, keys)
            if side:
                low, high = bounds(spec)
                hits.append({"label": label, "trial_id": row["trial_id"], "side": side,
                             "value": value, "low": low, "high": high, "spec": spec,
                             "sparse": sparse})
    return hits


def _outermost(trials: pd.DataFrame, label: str, key: str, declared: hp.Spec | hp.Branches,
               spec: hp.Spec, value: Any, context: Mapping[str, Any], keys: Sequence[str]
               ) -> str | None:
    """The side of the range when `value` (the best trial's) lies in its outer
    `SPARSE_MARGIN` and no ended trial of `label` under the same range was sampled
    between it and that bound (of at least `SPARSE_MIN_TRIALS`), else None: with few
    trials the best one can sit well inside the outer tenth and still be the last
    point explored."""
    side = edge_side(spec, value, SPARSE_MARGIN)
    if side is None or not isinstance(spec, (hp.Float, hp.Int)):
        return None
    mine = trials[(trials["label"] == label) & trials["status"].isin(trial_files.ENDED)]
    if len(mine) < SPARSE_MIN_TRIALS:
        return None
    for _, row in mine.iterrows():
        other = row.get(key)
        if other is None or (isinstance(other, float) and math.isnan(other)):
            continue
        if resolve(declared, row_context(row, context, keys)) != spec:
            continue  # another branch's range
        if (other > value) if side == "high" else (other < value):
            return None
    return side


def bounds(spec: hp.Spec) -> tuple[Any, Any]:
    if isinstance(spec, (hp.Discrete, hp.Choice)):
        return spec.values[0], spec.values[-1]
    return spec.low, spec.high


def boundaries(trials: pd.DataFrame, nuisance: Mapping[str, hp.Spec | hp.Branches], goal: str,
               context: Mapping[str, Any], margin: float = EDGE_MARGIN) -> list[Finding]:
    """Playbook: best trials near the edge of a search space mean the optimum may lie
    outside it: expand the space in that direction, to the range in the finding's
    `new_low`/`new_high` (analysis.ranges). An edge at a natural limit (momentum 0)
    cannot be expanded: the finding says the optimum sits at the limit."""
    findings = []
    for key in nuisance:
        hits = boundary_hits(trials, nuisance, goal, key, context, margin)
        for side in ("low", "high"):
            by_range: dict[str, list[dict[str, Any]]] = {}  # branches' ranges differ
            for hit in hits:
                if hit["side"] == side:
                    by_range.setdefault(repr(hit["spec"]), []).append(hit)
            findings += [_boundary_finding(key, side, mine, margin) for mine in by_range.values()]
    return findings


def _boundary_finding(key: str, side: str, hits: list[dict[str, Any]], margin: float) -> Finding:
    bound = hits[0][side]
    labels = sorted({h["label"] for h in hits})
    values = ", ".join(f"{h['value']:.3g} ({h['label']}, trial {h['trial_id']})"
                       if isinstance(h["value"], float) else
                       f"{h['value']} ({h['label']}, trial {h['trial_id']})" for h in hits)
    word = "lower" if side == "low" else "upper"
    where = (f"outer {margin:.0%} of its range" if not any(h["sparse"] for h in hits) else
             f"outer {SPARSE_MARGIN:.0%} of its range, no trial sampled between it and the bound")
    message = (f"best trials lie near the {word} bound {bound:g} of '{key}' ({where}): "
               f"{values}" if isinstance(bound, (int, float)) else
               f"best trials take the {'first' if side == 'low' else 'last'} value {bound} "
               f"of '{key}': {values}")
    proposal = ranges.propose(key, hits[0]["spec"], side)
    numbers = {"key": key, "side": side, "bound": bound, "labels": labels,
               "values": [h["value"] for h in hits], "at_limit": proposal.at_limit,
               "limit": proposal.limit, "new_low": None, "new_high": None,
               "sparse": any(h["sparse"] for h in hits)}
    ids = tuple(h["trial_id"] for h in hits)
    if proposal.at_limit:
        return Finding(
            "info", "boundary",
            f"{message}; {bound:g} is at the natural limit {proposal.limit:g} of '{key}'",
            numbers, f"the optimum sits at the natural limit of '{key}' ({key} = "
            f"{proposal.limit:g}{_AT_LIMIT_MEANS.get(key.rsplit('.', 1)[-1], '')}); no "
            f"expansion is possible or needed", ids)
    direction = "below" if side == "low" else "above"
    if proposal.new_range is None:
        advice = (f"expand the search space of '{key}' {direction} {bound} and run the study "
                  f"again; the optimum may lie outside the range")
    else:
        numbers.update(new_low=proposal.new_low, new_high=proposal.new_high)
        reaches = (" (its natural limit)" if proposal.limit is not None and
                   (proposal.new_low if side == "low" else proposal.new_high) == proposal.limit
                   else "")
        advice = (f"expand the search space of '{key}' {direction} {bound:g} to "
                  f"[{proposal.new_low:g}, {proposal.new_high:g}]{reaches} and run the study "
                  f"again; the optimum may lie outside the range")
    return Finding("warning", "boundary", message, numbers, advice, ids)


_AT_LIMIT_MEANS = {
    "momentum": ": no momentum, plain SGD, is as good",
    "b1": ": no first-moment averaging is as good",
    "weight_decay": ": no weight decay is as good",
    "dropout": ": no dropout is as good",
    "eps": ": the smallest epsilon is as good",
}


def budget(spec) -> list[Finding]:
    """Playbook (Adam's budgets): fewer than 10 trials tune one hyperparameter, 10-25
    two, 25+ three, well beyond 25 four. Fewer trials than that leave the nuisance
    space too sparsely sampled to trust the comparison."""
    dims = spec.dimensions
    short: dict[tuple[str, ...], list[str]] = {}  # active nuisance keys -> scientific labels
    for scientific in spec.scientific_values():
        active = tuple(hp.assign(dims, [0.5] * len(dims), spec.context(scientific)))
        if spec.budget < trials_needed(len(active)):
            short.setdefault(active, []).append(
                " ".join(f"{k}={v}" for k, v in scientific.items()))
    findings = []
    for active, labels in short.items():
        d, need = len(active), trials_needed(len(active))
        findings.append(Finding(
            "warning", "too_few_trials",
            f"{spec.budget} trials per scientific value ({', '.join(labels)}) search {d} "
            f"nuisance hyperparameters ({', '.join(active)}); about {need} are needed for {d}",
            {"budget": spec.budget, "dimensions": d, "needed": need, "labels": labels},
            f"raise the budget to {need} (playbook study --config STUDY --workdir DIR "
            f"--config.budget={need} continues the study) or fix the least important "
            f"nuisance hyperparameters in the baseline"))
    return findings


def trials_needed(dimensions: int) -> int:
    """Trials per scientific value for `dimensions` nuisance hyperparameters."""
    if dimensions <= 1:
        return 1
    return {2: 10, 3: 25}.get(dimensions, 25 * 2 ** (dimensions - 3))
