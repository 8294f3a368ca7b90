"""How often does each comparison rule call a difference that is not there, and how
often does it find one that is? Simulated seed reruns, docs/VALIDITY.md.

    python experiments/validity/verdict_error_rates.py

Two scientific values whose reruns are normal with std 1 (the trial-to-trial
noise); each side's selected trial is the best of `N` trials (its own score,
biased by the selection) plus `RUNS` reruns. Rules:
- welch: the 95% Welch interval of the difference of the reruns' means (the
  selecting trial excluded) excludes 0 (playbook.analysis.comparison);
- pooled: the earlier rule, |difference of the means of trial + reruns| > 2 x
  the pooled std of those groups.
"""

from __future__ import annotations

import numpy as np

from playbook.analysis.comparison import welch_interval

N, RUNS, REPEATS = 12, 5, 4000


def simulate(shift: float, rng: np.random.Generator) -> tuple[float, float]:
    """(share of welch calls, share of pooled calls) that value B is better, when B's true
    mean is lower (better) by `shift` rerun stds."""
    welch = pooled = 0
    for _ in range(REPEATS):
        sides = []
        for mean in (0.0, -shift):
            # The selected trial is the best of N: its score is its configuration's mean
            # plus the minimum of N noise draws (the configurations' own spread is ignored).
            selected = mean + rng.normal(size=N).min()
            sides.append((selected, mean + rng.normal(size=RUNS)))
        (sa, ra), (sb, rb) = sides
        _, low, _ = welch_interval(rb, ra, "minimize")
        welch += low > 0
        ga, gb = np.append(ra, sa), np.append(rb, sb)
        std = np.sqrt((ga.var(ddof=1) + gb.var(ddof=1)) / 2)
        pooled += (ga.mean() - gb.mean()) > 2 * std
    return welch / REPEATS, pooled / REPEATS


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{RUNS} reruns per side, selected trial best of {N}, {REPEATS} simulated studies")
    print("true difference (rerun stds) | welch calls 'better' | pooled 2 x std calls 'better'")
    for shift in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        welch, pooled = simulate(shift, rng)
        print(f"{shift:28.1f} | {welch:20.3f} | {pooled:29.3f}")


if __name__ == "__main__":
    main()
