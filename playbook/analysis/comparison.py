"""Is a scientific value better than the baseline's once its nuisance hyperparameters
are tuned? An estimate free of selection bias, an interval, and a verdict.

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
from playbook.analysis import evp
from playbook.analysis import load as load_lib
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
    verdict: str                # VERDICTS

    def sentence(self) -> str:
        v, b = self.value, self.baseline
        if self.verdict == "baseline":
            return f"{v.label} (baseline): {_describe(v)}"
        if self.verdict == "no_result":
            missing = v.label if v.trial_id is None else b.label
            return f"{v.label}: no done trial of {missing} yet; nothing to compare"
        if self.verdict == "no_reruns":
            short = [e.label for e in (v, b) if e.seeds < MIN_RERUNS]
            return (f"{v.label}: {_describe(v)}; fewer than {MIN_RERUNS} done seed reruns of "
                    f"{', '.join(short)}: the trial variance is unknown, no verdict")
        how = "better" if self.difference > 0 else "worse" if self.difference < 0 else "equal"
        rule = {"better": "the interval excludes 0: better than the baseline",
                "worse": "the interval excludes 0: worse than the baseline",
                "inconclusive": "the interval contains 0: inconclusive"}[self.verdict]
        return (f"{v.label}: {_describe(v)}; {how} than baseline {b.mean:.4g} by "
                f"{abs(self.difference):.3g}, {LEVEL:.0%} CI of the improvement "
                f"[{self.low:+.3g}, {self.high:+.3g}] (Welch, {v.seeds} vs {b.seeds} runs); {rule}")

    def evidence(self) -> dict[str, Any]:
        return {"value": dataclasses.asdict(self.value),
                "baseline": dataclasses.asdict(self.baseline),
                "difference": self.difference, "low": self.low, "high": self.high,
                "verdict": self.verdict, "level": LEVEL, "test": "welch"}

    @classmethod
    def from_evidence(cls, d: Mapping[str, Any]) -> Comparison:
        def est(e):
            return Estimate(**{**e, "values": tuple(e.get("values", ()))})
        return cls(est(d["value"]), est(d["baseline"]), d["difference"], d.get("low"),
                   d.get("high"), d["verdict"])


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
    """The best original trial of `scientific` and its seed reruns (the trial excluded)."""
    label = describe(dict(scientific))
    ranked = load_lib.ranked(trials, goal)
    ranked = ranked[ranked["label"] == label]
    if ranked.empty:
        return Estimate(label, dict(scientific), None, None, None, None, 0)
    best = ranked.iloc[0]
    reruns = trials[trials["repeats"] == best["trial_id"]]
    ended = reruns[reruns["status"].isin(load_lib.ENDED)]
    done = ended[(ended["status"] == "done") & ended["objective"].notna()]
    values = tuple(float(v) for v in done["objective"])
    return Estimate(label, dict(scientific), str(best["trial_id"]), float(best["objective"]),
                    float(np.mean(values)) if values else None,
                    float(np.std(values, ddof=1)) if len(values) >= 2 else None,
                    len(values), values, int(len(ended) - len(done)))


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
            out.insert(0, Comparison(value, base, 0.0, None, None, "baseline"))
        elif value.trial_id is None or base.trial_id is None:
            out.append(Comparison(value, base, None, None, None, "no_result"))
        elif min(value.seeds, base.seeds) < MIN_RERUNS:
            out.append(Comparison(value, base, None, None, None, "no_reruns"))
        else:
            difference, low, high = welch_interval(value.values, base.values, spec.goal)
            verdict = "better" if low > 0 else "worse" if high < 0 else "inconclusive"
            out.append(Comparison(value, base, difference, low, high, verdict))
    return out


def comparison_text(study: Study) -> str:
    """The comparison as the lines `playbook compare` prints: the rerun estimates and
    verdicts, then the expected best objective after n trials of each value."""
    comparisons = compare_values(study.trials, study.spec)
    base = comparisons[0].baseline if comparisons else None
    lines = [f"study {study.spec.name}: {study.metric} ({study.goal}); baseline "
             f"{base.label if base else '?'}"]
    lines += [f"  {c.sentence()}" for c in comparisons]
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
