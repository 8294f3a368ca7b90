"""Is a scientific value better than the baseline's once its nuisance hyperparameters
are tuned? An estimate free of selection bias, an interval, and a verdict.

The reference is the baseline config's value of the scientific keys; where the
baseline's value is not among the study's values, the first value is taken and
every line says so (`reference`), never calling it the baseline. A verdict
carries a caveat when either side's selecting trial sits at a bound of its
search space (the study's boundary findings): its optimum may lie outside.

The best trial of each value was chosen as the best of N, so its own score is
optimistically biased (the winner's curse). Its seed reruns (`playbook rerun`,
trials `<id>-seed<j>`) train the same configuration again and were not used to
select it: the estimate of a value is the mean of those reruns, and the
selecting trial is never counted. Reruns of the selected configuration (rather
than of the top k) estimate exactly what adoption would deploy, and their
spread is the trial-to-trial variance the playbook says matters.

The difference of the two sides' means comes with a 95% Welch interval
(scipy.stats.ttest_ind with unequal variances). Verdict: `better` or `worse`
when the interval excludes 0 on that side, `inconclusive` when it contains 0;
under normal rerun noise and equal true means a `better`/`worse` verdict is
wrong with probability 5% (docs/VALIDITY.md). Fewer than two done reruns on
either side: `no_reruns` (the variance is unknown). Infeasible reruns are
reported and left out of the means. Pure functions of the trials table.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from playbook import config as config_lib
from playbook.analysis import evp, space_findings, tally
from playbook.analysis.load import Study
from playbook.goal import Goal
from playbook.study.runner import describe

LEVEL = 0.95
MIN_RERUNS = 2
VERDICTS = ("baseline", "better", "worse", "inconclusive", "no_reruns", "no_result")


def rerun_command(study_dir: str) -> str:
    return f"playbook rerun {shlex.quote(str(study_dir))} --top 1 --seeds 5"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A scientific value's result: the seed reruns of its best trial, without that trial."""

    label: str
    scientific: dict[str, Any]
    trial_id: str | None        # the selecting (best original) trial; None: no done trial
    best: float | None          # its objective: biased by selection, never in `mean`
    mean: float | None          # mean over the done reruns (None without any)
    std: float | None           # their std (ddof 1), with at least two
    seeds: int                  # done reruns counted in `mean`
    values: tuple[float, ...] = ()
    infeasible: int = 0         # reruns that diverged or failed (not in `mean`)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A scientific value against the baseline's value."""

    value: Estimate
    baseline: Estimate
    difference: float | None    # improvement of the means over the baseline (> 0 is better)
    low: float | None           # 95% Welch interval of the improvement
    high: float | None
    verdict: str                # VERDICTS ('baseline': the reference value itself)
    # Which value `baseline` is when it is not the baseline config's ('': it is; else the
    # value taken and why, `Reference.note`), and why the verdict may not hold (`caveats`).
    reference: str = ""
    caveats: tuple[str, ...] = ()

    def sentence(self) -> str:
        v, b = self.value, self.baseline
        word = "reference" if self.reference else "baseline"
        caveats = "".join(f"; caveat: {c}" for c in self.caveats)
        if self.verdict == "baseline":
            return f"{v.label} ({word}): {_describe(v)}{caveats}"
        if self.verdict == "no_result":
            missing = v.label if v.trial_id is None else b.label
            return f"{v.label}: no done trial of {missing} yet; nothing to compare"
        if self.verdict == "no_reruns":
            short = [e.label for e in (v, b) if e.seeds < MIN_RERUNS]
            return (f"{v.label}: {_describe(v)}; fewer than {MIN_RERUNS} done seed reruns of "
                    f"{', '.join(short)}: the trial variance is unknown, no verdict{caveats}")
        how = "better" if self.difference > 0 else "worse" if self.difference < 0 else "equal"
        rule = {"better": f"the interval excludes 0: better than the {word}",
                "worse": f"the interval excludes 0: worse than the {word}",
                "inconclusive": "the interval contains 0: inconclusive"}[self.verdict]
        return (f"{v.label}: {_describe(v)}; {how} than {word} {b.mean:.4g} by "
                f"{abs(self.difference):.3g}, {LEVEL:.0%} CI of the improvement "
                f"[{self.low:+.3g}, {self.high:+.3g}] (Welch, {v.seeds} vs {b.seeds} runs); "
                f"{rule}{caveats}")

    def evidence(self) -> dict[str, Any]:
        return {"value": dataclasses.asdict(self.value),
                "baseline": dataclasses.asdict(self.baseline),
                "difference": self.difference, "low": self.low, "high": self.high,
                "verdict": self.verdict, "level": LEVEL, "test": "welch",
                "reference": self.reference, "caveats": list(self.caveats)}

    @classmethod
    def from_evidence(cls, d: Mapping[str, Any]) -> Comparison:
        def est(e):
            return Estimate(**{**e, "values": tuple(e.get("values", ()))})
        return cls(est(d["value"]), est(d["baseline"]), d["difference"], d.get("low"),
                   d.get("high"), d["verdict"], d.get("reference", ""),
                   tuple(d.get("caveats", ())))


def _describe(e: Estimate) -> str:
    if e.trial_id is None:
        return "no done trial yet"
    selected = f"trial {e.trial_id} scored {e.best:.4g} when selected (not counted)"
    bad = f", {e.infeasible} infeasible" if e.infeasible else ""
    if e.seeds == 0:
        return f"{selected}; no done seed reruns{bad}"
    spread = f" ± {e.std:.2g}" if e.std is not None else ""
    return f"{e.mean:.4g}{spread} over {e.seeds} seed reruns{bad}; {selected}"


def estimate(trials: pd.DataFrame, scientific: Mapping[str, Any], goal: str) -> Estimate:
    """The best trial of the search of `scientific` and its seed reruns (the trial
    excluded), both as `tally` counts them."""
    label = describe(dict(scientific))
    count = tally.tally(trials, goal, [label])[label]
    if count.best_trial is None:
        return Estimate(label, dict(scientific), None, None, None, None, 0)
    values, infeasible = tally.rerun_values(trials, count.best_trial)
    return Estimate(label, dict(scientific), count.best_trial, count.best_objective,
                    float(np.mean(values)) if values else None,
                    float(np.std(values, ddof=1)) if len(values) >= 2 else None,
                    len(values), values, infeasible)


def welch_interval(value: Sequence[float], baseline: Sequence[float], goal: str
                   ) -> tuple[float, float, float]:
    """(improvement of the means, low, high): the `LEVEL` Welch interval of
    sign * (mean(baseline) - mean(value)), > 0 when `value` is better."""
    s = Goal.of(goal).sign
    a, b = s * np.asarray(baseline, float), s * np.asarray(value, float)
    difference = float(a.mean() - b.mean())
    if a.std(ddof=1) == 0 and b.std(ddof=1) == 0:  # no noise at all: the interval is a point
        return difference, difference, difference
    interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(LEVEL)
    return difference, float(interval.low), float(interval.high)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The scientific value every other is compared with: the baseline config's, or,
    where the baseline's value of a key is not among the study's, the value taken."""

    scientific: dict[str, Any]
    note: str = ""  # '' when it is the baseline's; else which value was taken, and why

    @property
    def label(self) -> str:
        return describe(self.scientific)

    def header(self) -> str:
        if not self.note:
            return f"baseline {self.label}"
        return f"reference: {self.note}" if len(self.scientific) == 1 else \
            f"reference {self.label}: {self.note}"


def reference(scientific: Sequence[tuple[str, Sequence[Any]]], baseline) -> Reference:
    """The combination of scientific values equal to the baseline config's; where the
    baseline's value of a key is not in the study (or it has no such key), the key's
    first value, which the note names with the reason ("the first value, hidden=64;
    the baseline's 32 is not in the study")."""
    out, parts, taken = {}, [], False
    for key, values in scientific:
        present = config_lib.has(baseline, key)
        value = config_lib.get(baseline, key) if present else None
        if present and value in tuple(values):
            out[key] = next(v for v in values if v == value)
            parts.append(f"{key}={out[key]}, the baseline's")
            continue
        out[key], taken = values[0], True
        why = (f"the baseline's {value!r} is not in the study" if present else
               f"the baseline has no '{key}'")
        parts.append(f"the first value, {key}={values[0]}; {why}" if len(scientific) == 1
                     else f"the first value, {key}={values[0]} ({why})")
    return Reference(out, "; ".join(parts) if taken else "")


def baseline_scientific(scientific: Sequence[tuple[str, Sequence[Any]]], baseline
                        ) -> dict[str, Any]:
    """The reference's scientific values (`reference`)."""
    return reference(scientific, baseline).scientific


def boundary_caveats(trials: pd.DataFrame, spec) -> dict[str, list[str]]:
    """Per selecting trial id: why its value's nuisance search may have missed its optimum,
    from the study's boundary findings (`space_findings.boundaries`) that name it. The
    playbook: a comparison is fair only when each side's search space contains its
    optimum. A bound at a natural limit (momentum 0) holds the optimum: no caveat."""
    out: dict[str, list[str]] = {}
    for finding in space_findings.boundaries(trials, spec.nuisance, spec.goal, spec.context()):
        n = finding.numbers
        if n.get("at_limit"):
            continue
        bound = f"{n['bound']:g}" if isinstance(n["bound"], (int, float)) else repr(n["bound"])
        for trial_id in finding.trials:
            label = trials.loc[trials["trial_id"] == trial_id, "label"].iloc[0]
            out.setdefault(trial_id, []).append(
                f"{label}'s best trial {trial_id} lies near the {n['side']} bound {bound} of "
                f"'{n['key']}': its nuisance search may not have found its optimum")
    return out


def compare_values(trials: pd.DataFrame, spec) -> list[Comparison]:
    """Every scientific value against the reference value (the baseline config's, else
    `reference`'s choice), reference first; each verdict with the boundary caveats of
    its two sides' selecting trials."""
    ref = reference(spec.scientific, spec.baseline)
    base = estimate(trials, ref.scientific, spec.goal)
    caveats = boundary_caveats(trials, spec) if len(trials) else {}
    out = []
    for scientific in spec.scientific_values():
        value = estimate(trials, scientific, spec.goal)
        mine = tuple(caveats.get(value.trial_id, ()))
        both = mine + tuple(c for c in caveats.get(base.trial_id, ()) if c not in mine)
        if scientific == ref.scientific:
            out.insert(0, Comparison(value, base, 0.0, None, None, "baseline", ref.note, mine))
        elif value.trial_id is None or base.trial_id is None:
            out.append(Comparison(value, base, None, None, None, "no_result", ref.note))
        elif min(value.seeds, base.seeds) < MIN_RERUNS:
            out.append(Comparison(value, base, None, None, None, "no_reruns", ref.note, both))
        else:
            difference, low, high = welch_interval(value.values, base.values, spec.goal)
            verdict = "better" if low > 0 else "worse" if high < 0 else "inconclusive"
            out.append(Comparison(value, base, difference, low, high, verdict, ref.note, both))
    return out


def comparison_text(study: Study) -> str:
    """The comparison as the lines `playbook compare` prints: the rerun estimates and
    verdicts, then the expected best objective after n trials of each value."""
    comparisons = compare_values(study.trials, study.spec)
    ref = reference(study.spec.scientific, study.spec.baseline)
    lines = [f"study {study.spec.name}: {study.metric} ({study.goal}); {ref.header()}"]
    lines += [f"  {c.sentence()}" for c in comparisons]
    lines.append(f"  counted: {tally.of(study).study.text()}; each value's estimate is the "
                 f"mean of its best trial's seed reruns, that trial not counted")
    if any(c.caveats for c in comparisons):
        lines.append(f"caveats: a comparison is fair only when both sides' search spaces contain "
                     f"their optimum (Playbook); expand the ranges named (`playbook next "
                     f"{shlex.quote(str(study.root))}` drafts the next round with them "
                     f"expanded) and compare again")
    if any(c.verdict == "no_reruns" or (c.verdict == "baseline" and c.value.seeds < MIN_RERUNS)
           for c in comparisons):
        lines.append(f"seed reruns measure the trial variance: run `{rerun_command(study.root)}` "
                     f"and compare again")
    lines += budget_lines(study)
    return "\n".join(lines)


def budget_lines(study: Study) -> list[str]:
    """Expected validation performance at a few budgets, where the ranking flips, and
    whether the bands overlap at the study's budget."""
    found = evp.curves(study.trials, study.goal, study.labels, seed=0)
    if not found:
        return []
    budget = len(next(iter(found.values())).mean)
    shown = sorted({1, max(1, budget // 4), max(1, budget // 2), budget})
    lines = [f"expected best {study.metric} after n trials (Dodge et al. 2019; "
             f"{evp.LEVEL:.0%} bootstrap band):"]
    for n in shown:
        cells = [f"{c.label} {c.mean[n - 1]:.4g} [{c.low[n - 1]:.4g}, {c.high[n - 1]:.4g}]"
                 for c in found.values()]
        lines.append(f"  n={n:<3d} " + "; ".join(cells))
    order = evp.ranking(found, study.goal)
    if order is None:
        return lines
    if order.flips:
        changes = ", ".join(f"{label} from n={n}" for n, label in order.flips)
        lines.append(f"  the ranking changes with the budget: {order.leaders[0]} leads at n=1, "
                     f"{changes} (Choi et al. 2019: comparisons depend on the tuning budget)")
    else:
        lines.append(f"  {order.leaders[0]} leads at every n from 1 to {budget}")
    lines.append(f"  at the study's budget (n={budget}) the bands "
                 + ("overlap: inconclusive at this budget" if order.overlap_at_budget else
                    f"do not overlap: {order.leaders[-1]} is ahead at this budget"))
    return lines
