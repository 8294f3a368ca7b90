"""Trial generation: a study's designer points written as trials on disk.

A non-adaptive designer's sequence is written up to the budget when the study
is prepared (`generate_sequence`); an adaptive designer proposes points as results arrive
(`generate_adaptive`, called by the runner while trials are pending). What the
designer is asked, and how it is restored, is the `playbook.designers.base`
protocol; this module names no designer. Trial ids number points first, then
scientific values (`StudySpec.trials`), so the trials on disk say how far each
designer's sequence has been drawn.
"""

from __future__ import annotations

import numpy as np

from playbook import config as config_lib
from playbook import designers
from playbook.errors import ConfigError
from playbook.study.spec import StudySpec, TrialSpec
from playbook.study.store import StudyStore, TrialRecord
from playbook.trial_files import FINISHED


def adaptive(spec: StudySpec) -> bool:
    """Whether `spec`'s designer proposes points from results (as trials finish)."""
    return bool(designers.lookup(spec.designer).adaptive)


def points_drawn(store: StudyStore, spec: StudySpec) -> int:
    """Designer points with trials on disk (trial ids number points, then scientific values)."""
    return max((int(t) // num_combos(spec) + 1 for t in store.trial_ids() if "-" not in t),
               default=0)


def num_combos(spec: StudySpec) -> int:
    return len(spec.scientific_values())


def _points_complete(store: StudyStore, spec: StudySpec) -> int:
    """Leading designer points whose every scientific value has its trial on disk."""
    ids, combos = set(store.readable_trial_ids()), num_combos(spec)
    point = 0
    while all(f"{point * combos + s:04d}" in ids for s in range(combos)):
        point += 1
    return point


def generate_sequence(store: StudyStore, spec: StudySpec, budget: int) -> None:
    """Writes trials for every point of a non-adaptive designer's sequence up to `budget`
    that lacks any of them.

    A runner killed while creating a point's trials leaves some of them: the point
    is drawn again (the sequence is deterministic) and only the missing ones are written.
    """
    have = _points_complete(store, spec)
    if have >= budget:
        return
    designer = designers.create(spec.designer, len(spec.dimensions), spec.seed, goal=spec.goal,
                                drawn=have)
    points = suggested(spec, designer.suggest(budget - have), budget - have)
    for trial in spec.trials(points, start_index=have):
        write(store, spec, trial)


def suggested(spec: StudySpec, points, n: int) -> np.ndarray:
    """`points` as the protocol promises them, an [n, dim] array in the unit cube;
    ConfigError naming the designer otherwise (before any trial is written)."""
    dims = len(spec.dimensions)
    out = np.asarray(points, dtype=float)
    if out.shape != (n, dims):
        raise ConfigError(f"designer '{spec.designer}' returned points of shape {out.shape} "
                          f"for suggest({n}); the protocol asks for [{n}, {dims}] "
                          f"(playbook/designers/base.py)")
    bad = ~(np.isfinite(out) & (out >= 0.0) & (out <= 1.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ConfigError(f"designer '{spec.designer}' returned a point outside the unit cube "
                          f"({out[i, j]!r} in dimension {j}, "
                          f"'{spec.dimensions[j].key}'); suggest() returns values in [0, 1], "
                          f"which the search space maps onto each range")
    return out


def write(store: StudyStore, spec: StudySpec, trial: TrialSpec, seed: int | None = None,
          repeats: str | None = None, trial_id: str | None = None) -> None:
    """Writes `trial`'s trial.json and config.json (a seed rerun of `repeats` when given)."""
    config = spec.trial_config(trial)
    if seed is not None:
        config = config_lib.with_values(config, {"seed": seed})
    record = TrialRecord(trial_id=trial_id or trial.trial_id, index=-1 if repeats else trial.index,
                         scientific=trial.scientific, nuisance=trial.nuisance, point=trial.point,
                         seed=int(config.get("seed", 0)), repeats=repeats)
    store.write_trial(record, config_lib.to_dict(config))


def generate_adaptive(store: StudyStore, spec: StudySpec, max_new: int) -> int:
    """Proposes up to `max_new` new points (one trial per scientific value each) with the
    adaptive designer; returns how many.

    Each scientific value gets its own designer (seed `spec.seed * 1000 + s`), fed
    with every finished trial of that value: quasi-random ones from an earlier round
    warm-start it, and diverged trials enter as infeasible (objective None).
    """
    with store.study_lock():
        records = store.trials(spec.metric)
        combos = spec.scientific_values()
        start = max((r.index for r in records), default=-1) + 1
        new = min(max_new, spec.budget - start)
        dims = len(spec.dimensions)
        for offset in range(new):
            index = start + offset
            for s, scientific in enumerate(combos):
                observations = [(r.point, r.objective) for r in records
                                if r.scientific == scientific and r.repeats is None
                                and r.status in FINISHED and len(r.point) == dims]
                designer = designers.create(spec.designer, dims, spec.seed * 1000 + s,
                                            goal=spec.goal, drawn=index)
                point = suggested(spec, designer.suggest(1, observations), 1)[0]
                write(store, spec, spec.trials([point], start_index=index)[s])
        return new
