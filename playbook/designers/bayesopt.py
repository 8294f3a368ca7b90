"""Gaussian-process Bayesian optimisation, the playbook's exploitation designer.

Playbook, "Search": quasi-random search to explore, Bayesian optimisation to
exploit, "with divergent trials infeasible". This designer fits scikit-learn's
`GaussianProcessRegressor` (Matern 5/2 with one length scale per dimension,
a signal scale and a noise term) to the finished trials in the unit cube and
proposes the points that maximise expected improvement (or a confidence bound)
over a large seeded candidate set. Until it has `num_initial` feasible trials it
proposes scrambled Halton points of its own seed, so a study that starts with
it explores first. It is for tens to a few hundred trials in a handful of
dimensions (a GP fit is cubic in the number of trials); it is not a general
optimiser, and it knows nothing of scales, configs or training.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import ndtr
from scipy.stats import qmc

from playbook.designers.base import register
from playbook.designers.halton import Halton
from playbook.goal import GOALS, Goal

if TYPE_CHECKING:  # scikit-learn is imported when a model is fitted (a Halton study never)
    from sklearn.gaussian_process import GaussianProcessRegressor

ACQUISITIONS = ("ei", "ucb")
# Infeasible trials are modelled this many (feasible) standard deviations worse
# than the worst feasible one: bad enough that the model steers away from the
# region, mild enough not to dominate the fit of the feasible trials.
INFEASIBLE_MARGIN = 1.0
DUPLICATE_TOLERANCE = 1e-9
_RESTARTS = 2  # Optimizer restarts of the GP's kernel fit; more buys little at these sizes.
_EI_XI = 0.01  # Expected improvement's exploration margin, in standard deviations of y.
_UCB_BETA = 2.0  # Confidence bound: mean minus this many predictive standard deviations.
_NUM_SOBOL = 2048
_NUM_UNIFORM = 1024
_NUM_LOCAL = 128  # Perturbations around each of the best observed points and candidates.
_NUM_BEST = 8


# In a study, finished trials (an earlier quasi-random round's too) are the warm start:
# the model fits as soon as two are feasible rather than after 2 * dim quasi-random points.
@register(num_initial=2)
class BayesOpt:
    name = "bayesopt"
    adaptive = True

    def __init__(self, dim: int, seed: int, drawn: int = 0, goal: str = "minimize",
                 num_initial: int | None = None, acquisition: str = "ei"):
        if dim < 0:
            raise ValueError(f"dim must be >= 0, got {dim}")
        if goal not in GOALS:
            raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {acquisition!r}")
        self.dim = int(dim)
        self.seed = int(seed)
        self.drawn = int(drawn)
        self.goal = goal
        # Two feasible trials per dimension (at least 4) before the GP is trusted.
        self.num_initial = max(2 * self.dim, 4) if num_initial is None else int(num_initial)
        if self.num_initial < 1:
            raise ValueError(f"num_initial must be >= 1, got {num_initial}")
        self.acquisition = acquisition

    def suggest(self, n: int, observations: Sequence[Any] = ()) -> np.ndarray:
        """The next `n` points, [n, dim]: Halton until `num_initial` feasible trials, then BO.

        `observations` are (point, objective) pairs; an objective of None (or
        NaN/inf) marks an infeasible trial.
        """
        if n <= 0:
            return np.zeros((0, self.dim))
        if self.dim == 0:
            self.drawn += n
            return np.zeros((n, 0))
        points, objectives = _parse(observations, self.dim)
        if np.isfinite(objectives).sum() < self.num_initial:
            out = Halton(self.dim, self.seed).points(self.drawn, self.drawn + n)
        else:
            out = self._optimise(n, points, objectives)
        self.drawn += n
        return out

    def _optimise(self, n: int, points: np.ndarray, objectives: np.ndarray) -> np.ndarray:
        """Kriging believer: each chosen point joins the data at its predicted mean."""
        rng = np.random.default_rng([self.seed, self.drawn])
        x, y = points, minimization_targets(objectives, self.goal)
        gp = _fit(x, y, kernel=None, seed=int(rng.integers(2**31)))
        chosen = []
        for _ in range(n):
            point = _maximise_acquisition(gp, x, y, self.acquisition, rng)
            if point is None:  # Every candidate was observed already: keep exploring.
                point = rng.random(self.dim)
            chosen.append(point)
            x = np.vstack([x, point])
            y = np.append(y, gp.predict(point[None])[0])
            if len(chosen) < n:
                gp = _fit(x, y, kernel=gp.kernel_, seed=0)
        return np.array(chosen)

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "drawn": self.drawn,
                "goal": self.goal, "num_initial": self.num_initial, "acquisition": self.acquisition}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BayesOpt:
        return cls(dim=state["dim"], seed=state["seed"], drawn=state.get("drawn", 0),
                   goal=state.get("goal", "minimize"), num_initial=state.get("num_initial"),
                   acquisition=state.get("acquisition", "ei"))


def minimization_targets(objectives: Sequence[float | None], goal: str | Goal = "minimize"
                         ) -> np.ndarray:
    """Standardized values to minimise, infeasible trials (None, NaN, inf) made pessimistic.

    A GP cannot take NaN, and dropping diverged trials would let the model
    believe their region is unexplored and promising. So each infeasible trial
    gets the worst feasible value plus INFEASIBLE_MARGIN standard deviations:
    the model learns to avoid the region without a separate feasibility model.
    """
    y = Goal.of(goal).loss(
        np.array([math.nan if o is None else float(o) for o in objectives], dtype=float))
    feasible = np.isfinite(y)
    if not feasible.any():
        return np.zeros_like(y)
    std = y[feasible].std()
    y = (y - y[feasible].mean()) / (std if std > 0 else 1.0)
    y[~feasible] = y[feasible].max() + INFEASIBLE_MARGIN
    return y


def _parse(observations: Sequence[Any], dim: int) -> tuple[np.ndarray, np.ndarray]:
    points, objectives = [], []
    for point, objective in observations:
        point = np.asarray(point, dtype=float).reshape(-1)
        if point.shape != (dim,):
            raise ValueError(f"observed point {point.tolist()} has {point.size} coordinates, "
                             f"expected {dim}")
        points.append(point)
        objectives.append(math.nan if objective is None else float(objective))
    return np.array(points).reshape(-1, dim), np.array(objectives, dtype=float)


def _fit(x: np.ndarray, y: np.ndarray, kernel: Any, seed: int) -> GaussianProcessRegressor:
    """Fits the kernel's hyperparameters, or, given a fitted kernel, only conditions on the data."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if kernel is None:
        dim = x.shape[1]
        kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                  * Matern(length_scale=np.full(dim, 0.3), length_scale_bounds=(1e-2, 1e1), nu=2.5)
                  + WhiteKernel(1e-2, (1e-6, 1e0)))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=_RESTARTS,
                                      random_state=seed)
    else:
        gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None)
    with warnings.catch_warnings():
        # Length scales at their bounds are common with a dozen trials and harmless.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(x, y)


def _acquisition(gp: GaussianProcessRegressor, candidates: np.ndarray, best: float,
                 kind: str) -> np.ndarray:
    """Higher is better: expected improvement below `best`, or the negated lower bound."""
    mean, std = gp.predict(candidates, return_std=True)
    std = np.maximum(std, 1e-12)
    if kind == "ucb":
        return -(mean - _UCB_BETA * std)
    improvement = best - mean - _EI_XI
    z = improvement / std
    return improvement * ndtr(z) + std * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _maximise_acquisition(gp: GaussianProcessRegressor, x: np.ndarray, y: np.ndarray, kind: str,
                          rng: np.random.Generator) -> np.ndarray | None:
    """The best of a Sobol + uniform + local candidate set, then of a local refinement."""
    dim = x.shape[1]
    best_seen = x[np.argsort(y, kind="stable")[:_NUM_BEST]]
    candidates = np.vstack([
        qmc.Sobol(dim, scramble=True, seed=rng).random(_NUM_SOBOL),
        rng.random((_NUM_UNIFORM, dim)),
        _perturb(best_seen, rng, log10_scale=(-2.5, -0.7)),
    ])
    scores = _scores(gp, candidates, x, y.min(), kind)
    top = candidates[np.argsort(-scores, kind="stable")[:_NUM_BEST]]
    refined = _perturb(top, rng, log10_scale=(-3.5, -1.5))
    candidates = np.vstack([candidates, refined])
    scores = np.concatenate([scores, _scores(gp, refined, x, y.min(), kind)])
    i = int(np.argmax(scores))
    return None if scores[i] == -np.inf else candidates[i]


def _perturb(centres: np.ndarray, rng: np.random.Generator,
             log10_scale: tuple[float, float]) -> np.ndarray:
    """_NUM_LOCAL Gaussian steps around each centre, of log-uniform size, kept in the cube."""
    k, dim = centres.shape
    scale = 10.0 ** rng.uniform(*log10_scale, size=(k, _NUM_LOCAL, 1))
    steps = rng.normal(size=(k, _NUM_LOCAL, dim)) * scale
    return np.clip(centres[:, None, :] + steps, 0.0, 1.0).reshape(-1, dim)


def _scores(gp: GaussianProcessRegressor, candidates: np.ndarray, x: np.ndarray, best: float,
            kind: str) -> np.ndarray:
    """The acquisition, with -inf on points already observed or chosen."""
    scores = _acquisition(gp, candidates, best, kind)
    seen = cdist(candidates, x, metric="chebyshev").min(axis=1) <= DUPLICATE_TOLERANCE
    scores[seen] = -np.inf
    return scores
