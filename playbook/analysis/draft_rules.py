"""The rules that turn a study's findings into the next round's search space, one
method each (boundary, divergence, instability, unimportant, train_steps, budget,
designer, seed), and `Change`, the record of what each did and why.

`Rules` edits a copy of the study's nuisance specs and fixed values; every
change is checked as `playbook study` would check it (`problem`) and kept out,
with the reason, when it would not train. draft.py says in which order the
rules apply and what they stand on in the playbook. Pure: nothing is read or
written.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from playbook import config as config_lib
from playbook import external
from playbook import search as hp
from playbook.analysis import diagnostics, ranges, space_findings
from playbook.analysis import importance as importance_lib
from playbook.analysis import load as load_lib
from playbook.analysis.finding import Finding
from playbook.analysis.load import Study
from playbook.errors import ConfigError
from playbook.study.runner import describe

UNIMPORTANT = 0.05     # a key with less than this share of the importance does not matter...
EXPLAINED = 0.5        # ...when the main effects explain at least this much of the objective
WARMUP_FRACTION = 0.05  # Playbook: warmup over the first 5-10% of training
CLIP_PERCENTILE = 90    # Playbook: clip at the 90th percentile of the gradient norm
EARLY_TARGET = 0.4      # a shortened run puts the latest best checkpoint at 40% of it
LONGER = 2.0            # a compute-bound run trains this much longer
STEP_SUFFIX = "_every_steps"  # intervals in steps (eval_every_steps) scale with the length


@dataclasses.dataclass(frozen=True)
class Change:
    """One difference between a round and the next, or a deliberate non-change."""

    section: str      # nuisance | fixed | budget | designer | seed | baseline
    key: str          # the hyperparameter (or the field) concerned
    change: str       # what differs, e.g. "log [1e-05, 0.001] -> log [1e-05, 0.01]"
    reason: str       # the finding or decision behind it, with its numbers
    finding: str      # the finding's code (or 'decision', 'importance')
    kept: bool = False  # a rule that fired but left the value as it is

    def line(self) -> str:
        head = f"{self.key}: {'kept' if self.kept else self.change}"
        return f"{head} ({self.finding}: {self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)



class Rules:
    """The next round's search space while the rules edit it."""

    def __init__(self, study: Study, nuisance: dict, fixed: dict, findings: Sequence[Finding]):
        self.study, self.nuisance, self.fixed = study, nuisance, fixed
        self.findings = findings
        self.changes: list[Change] = []
        self.context = study.spec.context()
        self.touched: set[str] = set()
        self.edges: set[str] = set()  # flat keys whose boundary findings were not followed
        self.stabilised = False
        self.importance = importance_lib.importance(study.trials, study.spec.nuisance,
                                                    study.goal, self.context)

    # -- helpers -----------------------------------------------------------------------

    def value(self, key: str) -> Any:
        return self.fixed.get(key, self.context.get(key))

    def value_before(self, key: str) -> Any:
        """`key` in the study as it was (its fixed values are in its baseline)."""
        return self.context.get(key)

    def label_values(self) -> dict[str, dict[str, Any]]:
        return {describe(s): s for s in self.study.spec.scientific_values()}

    def branch(self, key: str, label: str) -> hp.Spec | None:
        """The spec of `key` in force for scientific value `label` (None: depends on more)."""
        scientific = self.label_values().get(label)
        if scientific is None:
            return None
        return space_findings.resolve(self.nuisance[key], {**self.context, **scientific})

    def replace(self, key: str, old: hp.Spec, new: hp.Spec) -> None:
        spec = self.nuisance[key]
        if isinstance(spec, hp.Branches):
            spec = dataclasses.replace(spec, branches=tuple(
                (v, new if b == old else b) for v, b in spec.branches))
        else:
            spec = new
        self.nuisance[key] = spec

    def problem(self) -> str | None:
        """Why the draft so far would not pass `playbook study`'s checks (ranges, natural
        limits, a trainable config at the corners of the search space), or None."""
        try:
            for key, spec in self.nuisance.items():
                for _, branch in (spec.branches if isinstance(spec, hp.Branches)
                                  else ((None, spec),)):
                    branch.check(key)
                    hp.check_limits(key, branch)
            baseline = config_lib.with_values(self.study.spec.baseline, self.fixed)
            dataclasses.replace(self.study.spec, baseline=baseline,
                                nuisance=self.nuisance)._check_trainable()
        except ConfigError as e:
            return str(e).split(" (in the trial with", 1)[0]
        return None

    def try_replace(self, key: str, old: hp.Spec, new: hp.Spec) -> str | None:
        """Replaces `old` by `new` if the draft stays valid; else the problem, unchanged."""
        before = self.nuisance[key]
        self.replace(key, old, new)
        problem = self.problem()
        if problem:
            self.nuisance[key] = before
        return problem

    def try_fixed(self, values: Mapping[str, Any]) -> str | None:
        """Fixes `values` if the draft stays valid; else the problem, unchanged."""
        before = dict(self.fixed)
        self.fixed.update(values)
        problem = self.problem()
        if problem:
            self.fixed = before
        return problem

    def add(self, section: str, key: str, change: str, reason: str, finding: str,
            kept: bool = False) -> None:
        self.changes.append(Change(section, key, change, reason, finding, kept))

    # -- rules -------------------------------------------------------------------------

    def flat(self, key: str) -> bool:
        """Whether `key` does not matter (its axis is flat), by the main-effect importance,
        measured once no other key's best trials sit at an edge: until then the trials
        sample a region the next round leaves, where a key may be flat for want of a
        good learning rate."""
        result = self.importance
        moving = {f.numbers["key"] for f in self.findings
                  if f.code == "boundary" and not f.numbers.get("at_limit")} - {key}
        return (bool(result.share) and result.explained >= EXPLAINED and not moving
                and result.share.get(key, 1.0) < UNIMPORTANT)

    def boundary(self, finding: Finding) -> None:
        key, side = finding.numbers["key"], finding.numbers["side"]
        if key not in self.nuisance:
            return
        if self.flat(key) and not finding.numbers.get("at_limit"):
            self.edges.add(key)
            return  # on a flat axis the best trials sit anywhere: fixed below, not expanded
        self.touched.add(key)
        # The ranges in force before any is replaced: a range that several scientific values
        # share is expanded once, not once more for each value after the first.
        ranges_in_force: dict[hp.Spec, str] = {}
        for label in finding.numbers["labels"]:
            spec = self.branch(key, label)
            if spec is not None:
                ranges_in_force.setdefault(spec, label)
        for spec, label in ranges_in_force.items():
            proposal = ranges.propose(key, spec, side)
            where = _where(key, label, self.nuisance[key])
            if proposal.at_limit:
                self.add("nuisance", where, "", f"the best trials sit at {proposal.limit:g}, the "
                         f"natural limit of '{key}': no range can reach past it", "boundary",
                         kept=True)
            elif proposal.new_range is None:
                self.add("nuisance", where, "", f"best trials take the "
                         f"{'first' if side == 'low' else 'last'} value of a list; add values "
                         f"{'below' if side == 'low' else 'above'} it by hand", "boundary",
                         kept=True)
            else:
                new = dataclasses.replace(spec, low=proposal.new_low, high=proposal.new_high)
                problem = self.try_replace(key, spec, new)
                if problem:
                    self.add("nuisance", where, "", f"{_values(finding)} near the {side} bound "
                             f"{spec_bound(spec, side):g}, but the expanded range "
                             f"{new.describe()} would not train ({problem})", "boundary",
                             kept=True)
                    continue
                self.add("nuisance", where, f"{spec.describe()} -> {new.describe()}",
                         f"{_values(finding)} near the {side} bound {spec_bound(spec, side):g}; "
                         f"expanded one step of its scale", "boundary")

    def divergence(self, finding: Finding, findings: Sequence[Finding]) -> None:
        n = finding.numbers
        key, label = n["key"], n["label"]
        if key not in self.nuisance:
            return
        self.touched.add(key)
        side = "high" if n["threshold"] > n["best"] else "low"
        if n["at_edge"] and side == "high":
            self.stabilise(f"every {label} trial with {key} >= {n['threshold']:.3g} diverged "
                           f"and the best trial ({key}={n['best']:.3g}) is the last stable one",
                           "divergence_threshold")
            return
        # Below the best, warmup and clipping do not help (they stabilise large steps):
        # the infeasible low end is cut whether or not the best trial is next to it.
        spec = self.branch(key, label)
        if not isinstance(spec, (hp.Float, hp.Int)):
            return
        sharing = [lb for lb in self.label_values() if self.branch(key, lb) == spec]
        mine = [f for f in findings if f.code == "divergence_threshold"
                and f.numbers["key"] == key and f.numbers["label"] in sharing]
        where = _where(key, label, self.nuisance[key])
        if len(mine) < len(sharing) or any(
                (f.numbers["at_edge"] and side == "high")
                or (f.numbers["threshold"] > f.numbers["best"]) != (side == "high")
                for f in mine):
            self.add("nuisance", where, "", f"{label} diverged beyond {n['threshold']:.3g} but "
                     f"{', '.join(sorted(set(sharing) - {f.numbers['label'] for f in mine}))} "
                     f"did not: the range is shared, so it stays", "divergence_threshold",
                     kept=True)
            return
        if label != min(f.numbers["label"] for f in mine):
            return  # one narrowing per shared range, by the most permissive threshold
        pick = max if side == "high" else min
        bound = pick(f.numbers["threshold"] for f in mine)
        new = _narrowed(spec, side, bound)
        if new is None or new == spec or self.try_replace(key, spec, new):
            return
        self.add("nuisance", where, f"{spec.describe()} -> {new.describe()}",
                 f"every {', '.join(f.numbers['label'] for f in mine)} trial with {key} "
                 f"{'>=' if side == 'high' else '<='} {bound:.3g} diverged "
                 f"({sum(f.numbers['diverged'] for f in mine)} trials) and the best trial "
                 f"({key}={n['best']:.3g}) lies on the feasible side; narrowed to it",
                 "divergence_threshold")

    def instability(self, finding: Finding) -> None:
        n = finding.numbers
        if n["just_below"]:
            self.stabilise(f"the best {n['label']} trial sits at {n['axis']} = {n['best']:.3g}, "
                           f"x{n['ratio']:.2g} below the threshold {n['threshold']:.3g} above "
                           f"which all {n['unstable']} trials were infeasible", "instability")
        elif n["axis"] != "learning_rate":
            self.add("nuisance", "learning_rate", "", f"every {n['label']} trial with "
                     f"{n['axis']} >= {n['threshold']:.3g} was infeasible, but that region "
                     f"is a joint one of learning_rate and momentum that no single range "
                     f"excludes; the best trials sit well below it", "instability", kept=True)

    def stabilise(self, reason: str, code: str) -> None:
        """Playbook ("How can optimization failures be debugged"): warmup, then clipping."""
        if self.stabilised:
            return
        self.stabilised = True
        searched = set(self.nuisance) | {k for k, _ in self.study.spec.scientific}
        warmup = self.value("warmup_fraction")
        if ("warmup_fraction" in self.context and not searched & {"warmup_fraction",
                                                                      "warmup_steps"}
                and not warmup and not self.value("warmup_steps")
                and not self.try_fixed({"warmup_fraction": WARMUP_FRACTION})):
            self.add("fixed", "warmup_fraction", f"{warmup} -> {WARMUP_FRACTION}", f"{reason}; "
                     f"learning-rate warmup lets higher learning rates train, and the range "
                     f"stays so the next round searches past the edge again", code)
            return
        clip = self.value("grad_clip_norm")
        norm = self.grad_norm()
        if ("grad_clip_norm" in self.context and "grad_clip_norm" not in searched and not clip
                and not self.try_fixed({"grad_clip_norm": norm})):
            self.add("fixed", "grad_clip_norm", f"{clip} -> {norm:g}", f"{reason}; warmup is "
                     f"already on, so gradients are clipped at the {CLIP_PERCENTILE}th "
                     f"percentile of the best trial's gradient norm", code)
            return
        self.add("fixed", "warmup_fraction", "", f"{reason}; warmup and gradient clipping are "
                 f"already on, searched, or not possible here: look at the training curves",
                 code, kept=True)

    def grad_norm(self) -> float:
        """The CLIP_PERCENTILE-th percentile of the best trial's logged gradient norm."""
        best = load_lib.ranked(self.study.trials, self.study.goal).iloc[0]["trial_id"]
        _, norms = self.study.curve(best, "train/grad_norm")
        norms = norms[np.isfinite(norms)]
        return float(f"{np.percentile(norms, CLIP_PERCENTILE):.3g}") if len(norms) else 1.0

    def unimportant(self) -> None:
        """Fixes the nuisance keys that do not matter at the best trial's value."""
        study, result = self.study, self.importance
        if not result.share or result.explained < EXPLAINED:
            return
        best = load_lib.ranked(study.trials, study.goal).iloc[0]
        for key, share in result.share.items():
            spec = self.nuisance.get(key)
            if (not self.flat(key) or key in self.touched or len(self.nuisance) <= 1
                    or not isinstance(spec, hp.Spec) or spec.when or _missing(best.get(key))):
                continue
            value = _typed(spec, best[key])
            del self.nuisance[key]
            if self.try_fixed({key: value}):
                self.nuisance[key] = spec
                continue
            self.add("fixed", key, f"searched {spec.describe()} -> fixed at {value!r}",
                     f"{share:.1%} of the importance over {result.trials} trials (main "
                     f"effects, adjusted R^2 {result.explained:.2f}); fixed at the best trial's "
                     f"({best['trial_id']}) value to free budget"
                     + ("; its boundary finding is not followed: on a flat axis the best "
                        "trials sit anywhere" if key in self.edges else ""), "importance")

    def train_steps(self, finding: Finding) -> None:
        """The trial's length (`external.length_key`: max_train_steps, a trainer's
        num_train_steps or declared length_key) follows the best-step finding; its step
        intervals (`*_every_steps`) scale with it."""
        key = external.length_key(self.study.spec.baseline)
        current = self.value(key) if key else None
        scientific = dict(self.study.spec.scientific)
        if key in scientific or key in self.nuisance or not _count(current):
            self.add("fixed", key or "length", "", (
                f"{key} is {'scientific' if key in scientific else 'searched'} here; the "
                f"best-step finding is for the user to weigh" if key in scientific or
                key in self.nuisance else f"no config key gives the trial's length "
                f"({', '.join(external.LENGTH_KEYS)}, or the key the baseline names as "
                f"{external.LENGTH_KEY}); change it by hand"), finding.code, kept=True)
            return
        if finding.code == "best_step_early":
            latest = int(finding.numbers["latest_best_step"])
            new = nice_steps(max(latest, 1) / EARLY_TARGET)
            why = (f"every best checkpoint of the {finding.numbers['trials']} best trials lies "
                   f"in the first {diagnostics.EARLY_BEST:.0%} of training (latest at step "
                   f"{latest}); shortened so it lands near {EARLY_TARGET:.0%}")
        else:
            new = nice_steps(current * LONGER)
            why = (f"{finding.numbers['late_share']:.0%} of the {finding.numbers['trials']} best "
                   f"trials chose a checkpoint in the last {1 - diagnostics.LATE_BEST:.0%} of "
                   f"training; trained {new / current:.3g}x longer (at least {LONGER:g}x, in "
                   f"round steps)")
        if new == current:
            return
        intervals = [k for k in self.context if k.rsplit(".", 1)[-1].endswith(STEP_SUFFIX)
                     and _count(self.value(k))]
        scaled = {k: max(1, round(self.value(k) * new / current)) for k in intervals
                  if k not in scientific and k not in self.nuisance}
        problem = self.try_fixed({key: new, **scaled})
        if problem:
            self.add("fixed", key, "", f"{why}; but {new} steps would not train ({problem})",
                     finding.code, kept=True)
            return
        self.add("fixed", key, f"{current} -> {new}", why, finding.code)
        for k in intervals:
            if k not in scaled:
                self.add("fixed", k, "", f"an interval in steps, but compared or searched "
                         f"here: not scaled with {key}", finding.code, kept=True)
            elif scaled[k] != self.value_before(k):
                self.add("fixed", k, f"{self.value_before(k)} -> {scaled[k]}", f"scaled with "
                         f"{key} to keep {new / scaled[k]:.3g} intervals per run", finding.code)

    def budget(self) -> int:
        spec = dataclasses.replace(self.study.spec, nuisance=self.nuisance)
        short = space_findings.budget(spec)
        if not short:
            return spec.budget
        need = max(f.numbers["needed"] for f in short)
        self.add("budget", "budget", f"{spec.budget} -> {need}", short[0].message, "too_few_trials")
        return need

    def seed(self) -> int:
        """A new designer seed: with the same one, every range that did not change would be
        sampled at the very values the last round already trained."""
        old = self.study.spec.seed
        new = (old + 1) % 2**32
        self.add("seed", "seed", f"{old} -> {new}", "fresh quasi-random points; the same seed "
                 "repeats the last round's points wherever a range stayed", "new_round")
        return new

    def designer(self, findings: Sequence[Finding]) -> str:
        """Playbook: quasi-random search while exploring; Bayesian optimisation once the
        search space is good (no boundary or instability finding left)."""
        open_ = [f for f in findings if f.code in ("instability", "divergence_threshold") or (
            f.code == "boundary" and not f.numbers.get("at_limit"))]
        old = self.study.spec.designer
        new = "halton" if open_ else "bayesopt"
        if new != old:
            reason = (f"{len(open_)} boundary or instability finding(s) left: still exploring"
                      if open_ else "no boundary or instability finding is left: the search "
                      "space is good, exploit it")
            self.add("designer", "designer", f"{old} -> {new}", reason,
                     "search_space" if not open_ else open_[0].code)
        return new



def spec_bound(spec: hp.Spec, side: str) -> float:
    return float(spec.low if side == "low" else spec.high)


def _where(key: str, label: str, spec: hp.Spec | hp.Branches) -> str:
    return f"{key}[{label}]" if isinstance(spec, hp.Branches) else key


def _values(finding: Finding) -> str:
    values = finding.numbers["values"]
    shown = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values)
    return f"best trial(s) at {shown}"


def _narrowed(spec: hp.Spec, side: str, bound: float) -> hp.Spec | None:
    """`spec` cut at `bound` on `side`; None when nothing valid would be left."""
    low, high = (spec.low, bound) if side == "high" else (bound, spec.high)
    if isinstance(spec, hp.Int):
        low, high = (int(math.ceil(low)), int(math.floor(high)))
    else:
        low, high = float(low), float(f"{high:.6g}") if side == "high" else float(high)
        if side == "low":
            low = float(f"{low:.6g}")
    new = dataclasses.replace(spec, low=low, high=high)
    try:
        new.check("narrowed")
    except ConfigError:
        return None
    return new


def nice_steps(steps: float) -> int:
    """`steps` rounded up to 1, 2, 2.5 or 5 times a power of ten (at least 10)."""
    steps = max(float(steps), 10.0)
    power = 10 ** math.floor(math.log10(steps))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= steps - 1e-9:
            return int(factor * power)
    return int(10 * power)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _typed(spec: hp.Spec, value: Any) -> Any:
    if isinstance(spec, hp.Int):
        return int(round(float(value)))
    if isinstance(spec, hp.Float):
        return float(f"{float(value):.4g}")
    if isinstance(value, np.generic):
        return value.item()
    return value

