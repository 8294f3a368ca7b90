"""Where a boundary finding points: the next round's range of a hyperparameter whose
best trials sit at an edge, or the statement that the edge is a natural limit.

Playbook ("Check the search space boundaries"): best trials near an edge mean
the optimum may lie outside the range, so expand it in that direction. Not past
a natural limit (limits.NATURAL_LIMITS): momentum cannot go below 0, so best
trials at momentum 0 say plain SGD is as good, not "search below 0". The
proposed range widens by one step of the spec's own scale (one decade of x on
a log scale, of 1 - x on a reverse_log scale, half the width on a linear one),
stopping at the natural limit. Pure functions of specs; nothing is read or drawn.
"""

from __future__ import annotations

import dataclasses
import math

from playbook import search as hp

AT_LIMIT = 0.1  # an edge this close to its natural limit (fraction of the range, in scale) is at it
DECADE = 10.0   # log and reverse_log ranges widen by one decade


@dataclasses.dataclass(frozen=True)
class Proposal:
    """The next range of a hyperparameter whose best trials sit at `side`."""

    side: str                       # 'low' | 'high'
    at_limit: bool                  # the edge is (practically) the natural limit: nothing to expand
    limit: float | None             # that natural limit, when there is one on this side
    new_low: float | int | None     # the proposed range (None: no numeric proposal)
    new_high: float | int | None

    @property
    def new_range(self) -> tuple | None:
        if self.at_limit or self.new_low is None:
            return None
        return (self.new_low, self.new_high)


def _scaled(spec: hp.Spec, x: float) -> float:
    """x on the spec's own scale (where the designer samples uniformly)."""
    scale = getattr(spec, "scale", "linear")
    if scale == "log":
        return math.log(x) if x > 0 else -math.inf
    if scale == "reverse_log":
        return -math.log(1.0 - x) if x < 1 else math.inf
    return x


def propose(key: str, spec: hp.Spec, side: str) -> Proposal:
    """The next range of `key` (searched by `spec`) whose best trials sit at `side`."""
    limits = hp.natural_limits(key) or hp.Limits()
    limit = limits.low if side == "low" else limits.high
    if not isinstance(spec, (hp.Float, hp.Int)):
        return Proposal(side, False, limit, None, None)
    low, high = float(spec.low), float(spec.high)
    bound = low if side == "low" else high
    if limit is not None:
        width = _scaled(spec, high) - _scaled(spec, low)
        gap = abs(_scaled(spec, bound) - _scaled(spec, limit))
        if gap <= AT_LIMIT * width:
            return Proposal(side, True, limit, None, None)
    new = _widen(spec, side, low, high)
    if limit is not None and not limits.contains(new):
        open_end = limits.low_open if side == "low" else limits.high_open
        new = (bound + limit) / 2 if open_end else limit
    if isinstance(spec, hp.Int):
        new = int(math.floor(new) if side == "low" else math.ceil(new))
    else:
        new = float(f"{new:.6g}")
    return Proposal(side, False, limit, *((new, spec.high) if side == "low" else (spec.low, new)))


def _widen(spec: hp.Spec, side: str, low: float, high: float) -> float:
    scale = getattr(spec, "scale", "linear")
    if scale == "log":
        return low / DECADE if side == "low" else high * DECADE
    if scale == "reverse_log":
        return 1.0 - (1.0 - low) * DECADE if side == "low" else 1.0 - (1.0 - high) / DECADE
    half = (high - low) / 2
    return low - half if side == "low" else high + half
