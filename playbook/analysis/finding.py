"""`Finding`: one observation about a study and the playbook's advice for it, the
unit every check (diagnostics.py, stability.py) returns."""

from __future__ import annotations

import dataclasses
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

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.code}: {self.message}"
        return f"{text}\n    -> {self.recommendation}" if self.recommendation else text
