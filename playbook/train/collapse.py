"""Telling a trial that collapsed to chance from one that is merely slow or spiky.

A trial whose training loss climbs back to the level of a model that predicts
nothing (and stays there) has not produced a result: its retrospective best
checkpoint predates the collapse and would rank it among good trials,
although the same hyperparameters cannot train. Such a trial is infeasible
(Playbook, "Analyzing the results": treat divergent trials as infeasible),
recorded `diverged` with reason `collapsed`.

The chance level of the training loss is the loss of the best constant
prediction: for classification (and next-token prediction) the entropy of the
training labels' class frequencies, ln(num_classes) when classes are balanced.
A workload without integer class labels falls back to the trial's initial
loss. The rule (measured on MNIST-1D, docs/VALIDITY.md):

- *at chance*: the mean training loss of a log interval is at least
  `1 - AT_CHANCE` times the chance level;
- *learned*: the loss fell clearly below chance (by `LEARNED`) at some log
  interval;
- *collapsed*: a trial that learned and then has every log interval of the
  last `WINDOW` of `max_train_steps` (at least `MIN_POINTS` intervals) at
  chance; or, at the end of training, a trial that learned and whose final
  validation error rate (or 1 - accuracy) is within `AT_CHANCE_ERROR` of the
  chance error (the error of always predicting the most frequent class): a
  trial whose training loss climbs back slowly ends there before its loss
  reaches chance;
- *never better than chance*: at the end of training, a trial none of whose
  (at least `MIN_POINTS`) log intervals had a loss below the chance level, and
  whose final validation error is at chance, is collapsed too: unstable from
  its first steps (measured: Nesterov at lr / (1 - momentum) = 34).

A trial whose loss went below chance but never clearly (by `LEARNED`) is not
collapsed: a slow start (too small a learning rate, or a smoke run of a few
steps), `done` with an objective near chance that ranks last and biases
nothing; calling it infeasible would put low-learning-rate trials into the
instability region (stability.py). Only a trial that learned is stopped early.

A spike that recovers within the window is not a collapse, and a run of fewer
than `MIN_POINTS` log intervals is never judged (a smoke test of a few steps,
whose batch-norm statistics may not have warmed up). Pure bookkeeping on
numbers: no JAX, no I/O.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

AT_CHANCE = 0.02   # within 2% of the chance loss (measured: collapsed 2.2996-2.3026 vs ln 10)
LEARNED = 0.10     # "has learned": the loss fell 10% below chance at some log interval
WINDOW = 0.10      # fraction of max_train_steps the loss must stay at chance
MIN_POINTS = 3     # and at least this many consecutive log intervals

AT_CHANCE_ERROR = 0.05  # measured: collapsed 0.876-0.912 vs chance 0.9; learning trials <= 0.66
LABEL_SAMPLE = 256  # examples whose labels give the class frequencies of a split read on demand
LABELS_PER_CLASS = 20  # fewer sampled labels per class: assume balanced classes


def class_frequencies(split, num_classes: int) -> np.ndarray | None:
    """Frequencies of the integer labels of `split`; None when they are not class indices.

    A split read on demand (records) is sampled (`LABEL_SAMPLE` examples); when such a
    sample would hold fewer than `LABELS_PER_CLASS` labels per class (ImageNet's 1000
    classes), the classes are taken as balanced without reading anything.
    """
    if split is None or num_classes <= 0 or len(split) == 0:
        return None
    labels = split.labels
    if not isinstance(labels, np.ndarray):  # read on demand
        per_example = int(np.prod(getattr(labels, "shape", (0, 1))[1:]))
        size = min(len(split), LABEL_SAMPLE)
        if size * per_example < LABELS_PER_CLASS * num_classes:
            return np.full(num_classes, 1.0 / num_classes)
        idx = np.random.default_rng(0).choice(len(split), size, replace=False)
        labels = np.asarray(labels[np.sort(idx)])
    if not np.issubdtype(labels.dtype, np.integer):
        return None
    labels = labels.reshape(-1).astype(np.int64)
    if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        return None
    counts = np.bincount(labels, minlength=num_classes)
    return counts / counts.sum()


def chance_levels(frequencies: np.ndarray | None) -> tuple[float | None, float | None]:
    """(loss, error rate) of the best constant prediction given class `frequencies`: their
    entropy (ln C for C balanced classes) and 1 - the largest frequency."""
    if frequencies is None:
        return None, None
    p = frequencies[frequencies > 0]
    return float(-(p * np.log(p)).sum()), float(1.0 - frequencies.max())


@dataclasses.dataclass
class Watch:
    """Follows a trial's logged training loss and says when it has collapsed.

    `note(step, loss, initial_loss)` at every log interval; `collapsed_now()`
    after it (the early stop), `collapsed_at_end()` when training ends.
    """

    max_train_steps: int
    chance: float | None = None  # chance loss of the training labels, if known
    chance_error: float | None = None  # chance error rate, if known
    level: float = math.nan      # the chance level in force (chance, or the initial loss)
    learned: bool = False        # the loss fell clearly below the level at some point
    below: bool = False          # the loss fell below the level at some point
    noted: int = 0               # log intervals noted
    since: int | None = None     # first step of the current at-chance stretch
    points: int = 0              # log intervals in that stretch
    last: int = 0                # step of the last interval noted

    def note(self, step: int, loss: float, initial_loss: float = math.nan) -> None:
        if math.isnan(self.level):
            self.level = self.chance if self.chance is not None else float(initial_loss)
        if not math.isfinite(loss) or not math.isfinite(self.level) or self.level <= 0:
            return
        self.noted += 1
        self.below |= loss < self.level
        if loss < (1.0 - LEARNED) * self.level:
            self.learned = True
        if loss >= (1.0 - AT_CHANCE) * self.level:
            if self.since is None:
                self.since = self.last  # the stretch covers the interval ending at `step`
            self.points += 1
        else:
            self.since, self.points = None, 0
        self.last = step

    def _window_full(self) -> bool:
        window = max(WINDOW * self.max_train_steps, 1)
        return (self.since is not None and self.points >= MIN_POINTS
                and self.last - self.since >= window)

    def collapsed_now(self) -> bool:
        """Collapsed after having learned: training may stop (it cannot become feasible)."""
        return self.learned and self._window_full()

    def collapsed_at_end(self, final: dict[str, float] | None = None) -> bool:
        """Learned, and then the final window of training is at chance, or the final
        validation error (`final`: the last evaluation's metrics) is; or never better
        than chance, with the final validation error at chance. Never before
        `MIN_POINTS` log intervals."""
        if self.noted < MIN_POINTS:  # too short a run to judge (a smoke test)
            return False
        at_chance = self._error_at_chance(final or {})
        return (not self.below and at_chance) or (
            self.learned and (self._window_full() or at_chance))

    def _error_at_chance(self, final: dict[str, float]) -> bool:
        if self.chance_error is None or self.chance_error <= 0:
            return False
        error = final.get("valid/error_rate", 1.0 - final.get("valid/accuracy", math.nan))
        return math.isfinite(error) and error >= (1.0 - AT_CHANCE_ERROR) * self.chance_error
