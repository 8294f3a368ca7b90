"""The shape of one training curve: noise, overfitting, still improving, saturated,
a rising training loss.

Pure functions of (steps, values) arrays, so each rule can be tested on a curve
with a known answer. Each returns the amount it measured when its pattern is
present beyond the curve's noise, else None. Thresholds come from the Deep
Learning Tuning Playbook's section "Examining the training curves"; the
noise is estimated from the curve itself (second differences, so a steady
trend is not noise) and, for a quantized metric such as an error rate, never
below one example (`resolution_of`). `diagnostics` turns the amounts into findings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from playbook.goal import Goal

OVERFIT_MIN_RISE = 0.05    # of the curve's range, besides 3 x its noise
NOISY_VALID = 0.1          # late noise / range of a validation curve
NOISY_TRAIN = 0.25         # late noise / range of the train loss (per-batch, noisier)
IMPROVING_MIN = 0.02       # of the range, improved over the last quarter of training
SATURATED_BY = 0.5         # best value (within noise) reached by this fraction of training


def noise_level(values: Sequence[float]) -> float:
    """Standard deviation of step-to-step noise, from second differences.

    For white noise of std s, a second difference has variance 6 s^2, and any
    linear trend cancels: a steadily falling curve is not called noisy.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 3:
        return 0.0
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    return float(np.sqrt(np.mean(d2 ** 2) / 6.0))


def resolution_of(values: Sequence[float]) -> float:
    """The smallest step a quantized metric can take (an error rate over N examples moves
    in steps of 1/N), or 0 for a continuous one. A change of one step is one example.

    Give it every value of the metric in the study: with few distinct values any
    metric looks quantized, so fewer than 5 give 0.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    keys = np.round(x, 7)  # Float32 sums of one value differ in their last digits.
    u = np.array([x[keys == k].mean() for k in np.unique(keys)])
    if len(u) < 5:
        return 0.0
    gaps = np.diff(u)
    ratios = gaps / gaps.min()
    return float(gaps.min()) if np.all(np.abs(ratios - np.round(ratios)) < 1e-3) else 0.0


def oriented(steps, values, goal: str) -> tuple[np.ndarray, np.ndarray]:
    """Finite points, with the metric turned so that smaller is better."""
    s, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(s) & np.isfinite(v)
    return s[ok], Goal.of(goal).loss(v[ok])


def late_half(x: np.ndarray) -> np.ndarray:
    """The later half of a curve (its last 3 points when short): where noise is measured."""
    return x[len(x) // 2:] if len(x) >= 6 else x[-3:]


def overfitting(steps, values, goal: str = "minimize", resolution: float = 0.0
                ) -> float | None:
    """How much the validation metric worsened after its best, when that exceeds its
    noise (3 x noise, 5% of the curve's range, and one step of a quantized metric such
    as an error rate); else None."""
    s, x = oriented(steps, values, goal)
    if len(x) < 4:
        return None
    b = int(np.argmin(x))
    after = x[b + 1:]
    if len(after) < 2:
        return None
    worsening = float(np.mean(after[-2:]) - x[b])
    threshold = max(3 * noise_level(late_half(x)), OVERFIT_MIN_RISE * float(np.ptp(x)),
                    resolution, 1e-12)
    return worsening if worsening > threshold * (1 + 1e-6) else None


def late_noise(steps, values, max_steps: float | None = None, threshold: float = NOISY_VALID
               ) -> float | None:
    """Noise over the last quarter of training relative to the curve's range, when above
    `threshold`; None when lower or when too few points lie there (fewer than 5)."""
    s, x = oriented(steps, values, "minimize")
    if len(x) < 5:
        return None
    end = float(max_steps or s[-1])
    window = x[s >= s[0] + 0.75 * (end - s[0])]
    if len(window) < 5:
        if len(x) < 8 or s[-5] < s[0] + 0.5 * (end - s[0]):
            return None
        window = x[-5:]
    span = float(np.ptp(x))
    if span <= 0:
        return None
    relative = noise_level(window) / span
    return relative if relative > threshold else None


def still_improving(steps, values, goal: str = "minimize", max_steps: float | None = None,
                    resolution: float = 0.0) -> float | None:
    """Improvement over the last quarter of training (as a share of the curve's range),
    when the best value lies there and the improvement exceeds 2 x noise, 2% of the
    range and one step of a quantized metric (`resolution_of`); else None."""
    s, x = oriented(steps, values, goal)
    if len(x) < 3:
        return None
    end = float(max_steps or s[-1])
    last = s >= s[0] + 0.75 * (end - s[0])
    if last.sum() < 2:
        last = np.zeros(len(x), dtype=bool)
        last[-2:] = True
    if int(np.argmin(x)) < int(np.argmax(last)):
        return None
    slope = np.polyfit(s[last], x[last], 1)[0]
    gain = -float(slope) * (s[last][-1] - s[last][0])
    span = float(np.ptp(x))
    threshold = max(2 * noise_level(late_half(x)), IMPROVING_MIN * span, resolution, 1e-12)
    return gain / span if gain > threshold * (1 + 1e-6) else None


def saturated_at(steps, values, goal: str = "minimize", max_steps: float | None = None,
                 resolution: float = 0.0) -> float | None:
    """The fraction of training by which the curve came within noise of its best value,
    when that is at most SATURATED_BY and the curve neither overfits nor still
    improves at the end; else None."""
    s, x = oriented(steps, values, goal)
    if len(x) < 4 or overfitting(steps, values, goal, resolution) is not None or \
            still_improving(steps, values, goal, max_steps, resolution) is not None:
        return None
    end = float(max_steps or s[-1])
    tol = max(2 * noise_level(late_half(x)), IMPROVING_MIN * float(np.ptp(x)), resolution)
    reached = s[int(np.argmax(x <= x.min() + tol))]
    fraction = float(reached / max(end, 1e-12))  # Training starts at step 0.
    return fraction if fraction <= SATURATED_BY else None


def train_loss_rising(steps, loss) -> float | None:
    """How much the training loss rose from its minimum to the last quarter's mean, when
    beyond 3 x its noise and 10% of its initial drop; else None. Playbook: a rising
    training loss points to a bug."""
    s, x = oriented(steps, loss, "minimize")
    n = len(x)
    if n < 6:
        return None
    k = max(2, n // 4)
    smooth = np.array([np.median(x[max(0, i - 1):i + 2]) for i in range(n)])
    low = float(smooth[:n - k].min())
    final = float(np.mean(x[-k:]))
    start = float(np.mean(x[:max(1, n // 10)]))
    rise = final - low
    threshold = max(3 * noise_level(x[n // 2:]), 0.1 * (start - low), 1e-12)
    return rise if rise > threshold else None
