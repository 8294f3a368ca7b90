"""Natural limits of hyperparameters: the values a key can take at all (momentum in
[0, 1), a learning rate above 0), by the last component of its config key.

`search.check_limits` refuses a search range that leaves them, and analysis/ranges.py
does not propose widening a range past them: a best trial at a natural limit is at an
optimum no wider range can move. Plain data, no specs and no configs here.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Limits:
    """The values a hyperparameter can take at all: [low, high], an end excluded when
    open (momentum in [0, 1), learning rate > 0). None: unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None
                    and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        left = "-inf" if self.low is None else f"{self.low:g}"
        right = "inf" if self.high is None else f"{self.high:g}"
        return (f"{'(' if self.low_open or self.low is None else '['}{left}, {right}"
                f"{')' if self.high_open or self.high is None else ']'}")


# Natural limits by the last component of a config key ('model.dropout' -> 'dropout').
# A search range must stay inside them; a best trial at one of them is at an optimum
# that no wider range can move (space_findings.boundaries).
NATURAL_LIMITS = {
    "learning_rate": Limits(0.0, None, low_open=True),
    "momentum": Limits(0.0, 1.0, high_open=True),
    "b1": Limits(0.0, 1.0, high_open=True),
    "b2": Limits(0.0, 1.0, high_open=True),
    "eps": Limits(0.0, None),
    "weight_decay": Limits(0.0, None),
    "dropout": Limits(0.0, 1.0, high_open=True),
    "label_smoothing": Limits(0.0, 1.0, high_open=True),
    "grad_clip_norm": Limits(0.0, None),
    "warmup_fraction": Limits(0.0, 1.0),
    "lr_end_factor": Limits(0.0, 1.0),
    "warmup_steps": Limits(0.0, None),
    "batch_size": Limits(1.0, None),
    "width": Limits(1.0, None),
    "depth": Limits(1.0, None),
    "num_heads": Limits(1.0, None),
    "mlp_dim": Limits(1.0, None),
}


def natural_limits(key: str) -> Limits | None:
    """The natural limits of config key `key`, if it has known ones."""
    return NATURAL_LIMITS.get(key.rsplit(".", 1)[-1])
