"""How many trials a study holds and which is its best: the one count every view shows.

The project's rule: the trials of the search (the designer's trials, without a
`repeats`) are the study's trials; they are counted by status, and the best of a
scientific value is its best done trial of the search. Seed reruns (`playbook
rerun`: `<id>-seed<j>`, their `repeats` naming the trial they train again) are
counted apart, by status, and never ranked: they repeat a configuration already
selected. The estimate from a selected trial's reruns (`rerun_values`) leaves
that trial out, since it won a best-of-N selection (comparison.py).

`tally` computes this per scientific value and for the whole study from the
trials table (or an exported one read back); `playbook status`, `history`,
`compare` and `rerun`, the end of `playbook study`, the findings, the report and
the dashboard take their counts and bests from it and say what they count
(`Count.text`). Pure functions of the trials table: nothing is read or
written here, and no JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pandas as pd

from playbook.analysis import load as load_lib
from playbook.trial_files import ENDED, FINISHED, INFEASIBLE, STATUSES, UNFINISHED


@dataclasses.dataclass(frozen=True)
class Count:
    """One scientific value's trials (`label`), or the whole study's (`label` '')."""

    label: str
    search: Mapping[str, int]           # the trials of the search by status (STATUSES)
    reruns: Mapping[str, int]           # the seed reruns by status, counted apart
    best_trial: str | None = None       # the best done trial of the search (None: none yet)
    best_objective: float | None = None

    @property
    def trials(self) -> int:
        """Trials of the search, every status."""
        return sum(self.search.values())

    @property
    def rerun_trials(self) -> int:
        """Seed reruns, every status."""
        return sum(self.reruns.values())

    def of_search(self, statuses: Sequence[str]) -> int:
        return sum(self.search.get(s, 0) for s in statuses)

    def of_reruns(self, statuses: Sequence[str]) -> int:
        return sum(self.reruns.get(s, 0) for s in statuses)

    @property
    def done(self) -> int:
        return self.search.get("done", 0)

    @property
    def ended(self) -> int:
        return self.of_search(ENDED)

    @property
    def finished(self) -> int:
        return self.of_search(FINISHED)

    @property
    def infeasible(self) -> int:
        return self.of_search(INFEASIBLE)

    @property
    def unfinished(self) -> int:
        return self.of_search(UNFINISHED)

    @property
    def reruns_unfinished(self) -> int:
        return self.of_reruns(UNFINISHED)

    def text(self) -> str:
        """What is counted, in words: '12 trials of the search (10 done, 2 diverged); 6 seed
        reruns counted apart (6 done), never the best'."""
        search = f"{self.trials} trials of the search ({statuses_text(self.search)})"
        if not self.rerun_trials:
            return f"{search}; no seed reruns"
        return (f"{search}; {self.rerun_trials} seed reruns counted apart "
                f"({statuses_text(self.reruns)}), never the best")

    def best_text(self) -> str:
        if self.best_trial is None:
            return "no done trial of the search"
        return f"{self.best_objective:.4g} (trial {self.best_trial})"


@dataclasses.dataclass(frozen=True)
class Tally:
    """The study's `Count` and each scientific value's, in the order asked for."""

    study: Count
    values: Mapping[str, Count]

    def __getitem__(self, label: str) -> Count:
        return self.values.get(label) or _count(label, _EMPTY, _EMPTY, _EMPTY)


def statuses_text(by_status: Mapping[str, int]) -> str:
    """'10 done, 2 diverged': the statuses present, in STATUSES order ('none' if none)."""
    return ", ".join(f"{by_status[s]} {s}" for s in STATUSES if by_status.get(s)) or "none"


def tally(trials: pd.DataFrame, goal: str, labels: Sequence[str] | None = None) -> Tally:
    """The counts and bests of the trials table (`load.load_study`'s, or an export read
    back): for the whole study and for each of `labels` (default: the labels in the
    table, in order of appearance; a label without trials counts zero)."""
    search = load_lib.originals(trials)
    reruns = trials[trials["repeats"].notna()]
    ranked = load_lib.ranked(trials, goal)
    labels = list(dict.fromkeys(trials["label"])) if labels is None else list(labels)
    values = {label: _count(label, search[search["label"] == label],
                            reruns[reruns["label"] == label], ranked[ranked["label"] == label])
              for label in labels}
    return Tally(_count("", search, reruns, ranked), values)


def of(study: load_lib.Study) -> Tally:
    """`tally` of a loaded study, per scientific value in declaration order."""
    return tally(study.trials, study.goal, study.labels)


def rerun_values(trials: pd.DataFrame, trial_id: str) -> tuple[tuple[float, ...], int]:
    """The objectives of the done seed reruns of `trial_id` (the trial itself never among
    them), and how many of its reruns ended infeasible (diverged or failed)."""
    reruns = trials[trials["repeats"] == trial_id]
    ended = reruns[reruns["status"].isin(ENDED)]
    done = ended[(ended["status"] == "done") & ended["objective"].notna()]
    return tuple(float(v) for v in done["objective"]), int(len(ended) - len(done))


_EMPTY = pd.DataFrame({"trial_id": [], "status": [], "objective": []})


def _count(label: str, search: pd.DataFrame, reruns: pd.DataFrame, ranked: pd.DataFrame
           ) -> Count:
    def by_status(rows: pd.DataFrame) -> dict[str, int]:
        return {s: int((rows["status"] == s).sum()) for s in STATUSES}

    best = ranked.iloc[0] if len(ranked) else None
    return Count(label, by_status(search), by_status(reruns),
                 None if best is None else str(best["trial_id"]),
                 None if best is None else float(best["objective"]))
