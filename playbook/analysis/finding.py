"""`Finding`: one observation about a study and the playbook's advice for it, the
unit every check (diagnostics.py, stability.py) returns; `by_cause` folds the
findings that are about the same trials into the one that names their cause, so
a reader sees each problem once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One observation about a study and the playbook's advice for it."""

    severity: str                  # 'info' | 'warning' | 'error'
    code: str                      # stable name, e.g. 'boundary', 'overfitting'
    message: str                   # what was seen
    numbers: dict[str, Any] = dataclasses.field(default_factory=dict)
    recommendation: str = ""       # what the playbook says to do
    trials: tuple[str, ...] = ()   # trial ids the finding is about
    # Findings about the same trials, folded into this one (their cause); see `by_cause`.
    related: tuple[Finding, ...] = ()

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.code}: {self.message}"
        return f"{text}\n    -> {self.recommendation}" if self.recommendation else text


# Codes that explain infeasible trials, the cause first: the effective learning rate
# (stability.py) before one key's divergence threshold (diagnostics.py).
CAUSES = ("instability", "divergence_threshold")


def by_cause(findings: Sequence[Finding]) -> list[Finding]:
    """`findings` with each one about infeasible trials (CAUSES) whose trials all belong to
    an earlier-ranked finding of the same scientific value folded into that one: listed
    in its `related` and named in one sentence of its message. Ranked by CAUSES, then
    warnings before information, then more trials first."""
    explaining = sorted((f for f in findings if f.code in CAUSES and f.trials),
                        key=lambda f: (CAUSES.index(f.code), SEVERITIES.index(f.severity),
                                       -len(f.trials)))
    folded: dict[int, list[Finding]] = {}
    primaries: list[Finding] = []
    for f in explaining:
        home = next((p for p in primaries if p.numbers.get("label") == f.numbers.get("label")
                     and set(f.trials) <= set(p.trials)), None)
        if home is None:
            primaries.append(f)
        else:
            folded.setdefault(id(home), []).append(f)
    out = []
    for f in findings:
        if f.code in CAUSES and f.trials and f not in primaries:
            continue
        more = folded.get(id(f))
        if more:
            # A key that is the cause's own axis (the learning rate of an optimizer without
            # momentum) says nothing more: kept in `related`, not repeated in the message.
            seen = "; ".join(m.message.split("; the best trial")[0] for m in more
                             if m.numbers.get("key") != f.numbers.get("axis"))
            f = dataclasses.replace(f, related=tuple(more), message=(
                f"{f.message}. The same trials, seen on one key (not listed again): {seen}"
                if seen else f.message))
        out.append(f)
    return out


def flatten(findings: Sequence[Finding]) -> list[Finding]:
    """Every finding, the folded ones (`related`) after the one they were folded into."""
    return [g for f in findings for g in (f, *flatten(f.related))]
