"""The next round of a study, drafted from its findings: ranges, fixed values, budget,
designer and training length, each change with the finding that caused it.

Playbook ("A scientific approach to improving model performance"): tuning is a
loop of rounds; each round's search space, baseline and training length follow
from what the last one showed. The rules, in the order they are applied:

- a boundary finding expands the range by analysis.ranges' proposal; at a
  natural limit the range stays and the draft says why;
- a range whose outer part produced only infeasible trials (divergence_threshold)
  is narrowed to the stable region; when the best trial sits at the edge of
  stability (divergence_threshold at the edge, or an instability finding just
  below its threshold), the draft adds learning-rate warmup, or gradient
  clipping when warmup is already on, as fixed values, and keeps the range;
- a nuisance hyperparameter that does not matter (analysis.importance) is fixed
  at its best trial's value, freeing budget for the others, once no other key's
  range is still moving; a boundary finding on it is then not followed (on a
  flat axis the best trials sit anywhere, edges included);
- the budget follows the number of nuisance dimensions (space_findings.budget);
- the designer is `bayesopt` (exploitation) once no boundary or instability
  finding is left, `halton` (exploration) before;
- max_train_steps follows the best-step findings (never tuned in a study);
- the designer's seed moves on, so ranges that stay are sampled at new points;
- the scientific question stays as it is.

`draft` is a pure function of a loaded study, its findings and an optional
decision (the rules themselves: draft_rules.py); writing the files is rounds.py's
job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from playbook.analysis import load as load_lib
from playbook.analysis.draft_rules import (  # noqa: F401 - re-exported for callers
    CLIP_PERCENTILE,
    EARLY_TARGET,
    EXPLAINED,
    LONGER,
    UNIMPORTANT,
    WARMUP_FRACTION,
    Change,
    Rules,
    nice_steps,
)
from playbook.analysis.finding import Finding, flatten
from playbook.analysis.load import Study
from playbook.errors import ConfigError
from playbook.study.spec import StudySpec


@dataclasses.dataclass(frozen=True)
class Draft:
    """The next round's study: this study's spec with the drafted fields changed (name,
    nuisance, fixed, budget, designer, seed; its baseline stays this study's, which the
    next config names again), the round's number and the changes that made it."""

    spec: StudySpec
    round: int
    changes: tuple[Change, ...]



def check_draftable(study: Study, findings: Sequence[Finding]) -> None:
    """ConfigError when the study cannot say anything about a next round yet."""
    if load_lib.ranked(study.trials, study.goal).empty:
        raise ConfigError(f"study '{study.spec.name}' in {study.root} has no finished trial; run "
                          f"it (playbook study --config STUDY --workdir {study.root}) before "
                          f"drafting the next round")
    failed = next((f for f in findings if f.code == "failed_trials"), None)
    if failed is not None:
        raise ConfigError(f"{failed.message}; fix the cause and run the study again with "
                          f"--retry_failed before drafting the next round")


def draft(study: Study, findings: Sequence[Finding]) -> Draft:
    """The next round of `study` given its `findings` (diagnostics.diagnose)."""
    findings = flatten(findings)  # a folded finding still has its own rule
    check_draftable(study, findings)
    spec = study.spec
    state = Rules(study, dict(spec.nuisance), dict(spec.fixed), findings)
    for finding in findings:
        if finding.code == "boundary":
            state.boundary(finding)
    for finding in findings:
        if finding.code == "divergence_threshold":
            state.divergence(finding, findings)
        elif finding.code == "instability":
            state.instability(finding)
    state.unimportant()
    for finding in findings:
        if finding.code in ("best_step_early", "best_step_late"):
            state.train_steps(finding)
    budget = state.budget()
    designer = state.designer(findings)
    number = int(spec.previous.get("round", 1)) + 1 if spec.previous else 2
    seed = state.seed()
    return Draft(spec=dataclasses.replace(spec, name=_next_name(spec.name, number),
                                          nuisance=state.nuisance, fixed=state.fixed,
                                          budget=budget, designer=designer, seed=seed,
                                          previous={}),
                 round=number, changes=tuple(state.changes))


def _next_name(name: str, number: int) -> str:
    stem, sep, tail = name.rpartition("_round")
    return f"{stem if sep and tail.isdigit() else name}_round{number}"



def previous_record(study: Study, draft_: Draft, previous_dir: str,
                    decision: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `previous` field of the next round: where it came from and why it differs."""
    changes = [c.to_dict() for c in draft_.changes]
    if decision:
        changes.insert(0, decision_change(decision).to_dict())
    return {"study": previous_dir, "round": draft_.round, "changes": changes}


def decision_change(decision: Mapping[str, Any]) -> Change:
    adopted = " ".join(f"{k}={v}" for k, v in decision["adopted"].items())
    return Change("baseline", "baseline", f"{adopted} with the nuisance values of trial "
                  f"{decision['trial_id']}", f"adopted on {decision['time']} "
                  f"({decision['metric']} {decision['objective']:.4g}; verdict "
                  f"{decision['comparison']['verdict']})", "decision")

