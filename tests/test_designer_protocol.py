"""A designer defined outside the package, in one class that `designers.register` adds,
runs a study through the unchanged runner: a non-adaptive sequence is written when the
study is prepared and continued when it is extended; an adaptive designer is asked as
results arrive, with the finished trials' objectives and the study's goal."""

import math
import os

import numpy as np
import pytest

from playbook import designers
from playbook import search as hp
from playbook.errors import ConfigError
from playbook.study import StudySpec, define, executors, runner
from playbook.study.store import StudyStore, read_json

LR_LOW, LR_HIGH = 1e-3, 3e-2
GOLDEN = (math.sqrt(5) - 1) / 2


class Kronecker:
    """Additive recurrence: point i is frac(0.5 + (i + 1) * golden ratio) in every coordinate."""

    name = "kronecker"
    adaptive = False

    def __init__(self, dim, seed, *, drawn=0, goal="minimize"):
        self.dim, self.seed, self.drawn = dim, seed, drawn

    def suggest(self, n, observations=()):
        i = np.arange(self.drawn, self.drawn + n, dtype=float)[:, None]
        self.drawn += n
        return np.repeat((0.5 + (i + 1) * GOLDEN) % 1.0, self.dim, axis=1)

    def state(self):
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "drawn": self.drawn}

    @classmethod
    def from_state(cls, state):
        return cls(state["dim"], state["seed"], drawn=state["drawn"])


class HalfTheBest:
    """Adaptive: 0.9 first, then half the point of the best observation under `goal`."""

    name = "half_the_best"
    adaptive = True
    calls = []  # (seed, drawn, goal, observations) of every suggest, for the test to read

    def __init__(self, dim, seed, *, drawn=0, goal="minimize"):
        self.dim, self.seed, self.drawn, self.goal = dim, seed, drawn, goal

    def suggest(self, n, observations=()):
        HalfTheBest.calls.append((self.seed, self.drawn, self.goal, list(observations)))
        feasible = [(p, y) for p, y in observations if y is not None]
        if feasible:
            sign = 1.0 if self.goal == "minimize" else -1.0
            point = 0.5 * np.asarray(min(feasible, key=lambda o: sign * o[1])[0])
        else:
            point = np.full(self.dim, 0.9)
        self.drawn += n
        return np.tile(point, (n, 1))

    def state(self):
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "drawn": self.drawn,
                "goal": self.goal}

    @classmethod
    def from_state(cls, state):
        return cls(state["dim"], state["seed"], drawn=state["drawn"], goal=state["goal"])


@pytest.fixture
def registered():
    """The two designers above, registered for one test only."""
    for cls in (Kronecker, HalfTheBest):
        designers.register(cls)
    HalfTheBest.calls.clear()
    yield
    for cls in (Kronecker, HalfTheBest):
        del designers.REGISTRY[cls.name]


def study(root, designer, budget, metric=""):
    return StudySpec.from_config(define(
        baseline=str(root / "configs/synthetic_mlp.py"), scientific={"optimizer": ["adamw"]},
        nuisance={"learning_rate": hp.log(LR_LOW, LR_HIGH)}, budget=budget, designer=designer,
        metric=metric, fixed={"max_train_steps": 20, "eval_every_steps": 10}))


def learning_rate(u):
    return LR_LOW * (LR_HIGH / LR_LOW) ** u


def test_a_registered_non_adaptive_designer_writes_and_extends_its_sequence(root, tmp_path,
                                                                            registered):
    store = StudyStore(str(tmp_path / "study"))
    spec = study(root, "kronecker", budget=2)
    runner.prepare(store, spec)
    assert store.trial_ids() == ["0000", "0001"]  # the whole budget, before any result
    bigger = study(root, "kronecker", budget=3)
    runner.prepare(store, bigger)
    statuses = runner.run(store, bigger, executors.Inline()).statuses
    assert statuses == {"0000": "done", "0001": "done", "0002": "done"}
    for i, record in enumerate(store.trials(bigger.metric)):
        u = (0.5 + (i + 1) * GOLDEN) % 1.0  # point i: the extension continued the sequence
        assert record.point == pytest.approx((u,))
        assert record.nuisance["learning_rate"] == pytest.approx(learning_rate(u))
        config = read_json(os.path.join(store.trial_dir(record.trial_id), "config.json"))
        assert config["learning_rate"] == pytest.approx(learning_rate(u))
    assert read_json(store.study_json)["designer"] == {"name": "kronecker", "seed": 0, "drawn": 3}


def test_a_registered_adaptive_designer_is_asked_as_results_arrive(root, tmp_path, registered):
    store = StudyStore(str(tmp_path / "study"))
    spec = study(root, "half_the_best", budget=3, metric="valid/accuracy")
    runner.prepare(store, spec)
    assert store.trial_ids() == []  # nothing is proposed before results arrive
    statuses = runner.run(store, spec, executors.Inline()).statuses
    assert statuses == {"0000": "done", "0001": "done", "0002": "done"}
    records = store.trials(spec.metric)
    accuracy = [read_json(os.path.join(store.trial_dir(r.trial_id), "result.json"))["best"]
                [spec.metric] for r in records]
    # One trial at a time (one slot): point i is asked with the i finished trials before it.
    assert [(seed, drawn, goal) for seed, drawn, goal, _ in HalfTheBest.calls] == [
        (0, 0, "maximize"), (0, 1, "maximize"), (0, 2, "maximize")]
    for i, (_, _, _, observations) in enumerate(HalfTheBest.calls):
        assert [(tuple(p), y) for p, y in observations] == [
            (r.point, pytest.approx(a)) for r, a in zip(records[:i], accuracy)]
    assert records[0].point == pytest.approx((0.9,))
    for i in (1, 2):
        best = int(np.argmax(accuracy[:i]))  # the first of equal accuracies, as min() keeps
        assert records[i].point == pytest.approx((0.5 * records[best].point[0],))


def test_registering_checks_the_protocol_and_the_name(registered):
    assert designers.lookup("kronecker") is Kronecker and "kronecker" in designers.NAMES
    assert isinstance(designers.create("kronecker", 2, 0, drawn=5), Kronecker)
    assert designers.from_state({"name": "kronecker", "dim": 1, "seed": 0, "drawn": 4}).drawn == 4

    class NoFlag:
        name = "no_flag"
        suggest = state = from_state = None

    with pytest.raises(TypeError, match="NoFlag lacks adaptive"):
        designers.register(NoFlag)
    with pytest.raises(TypeError, match="'halton' is taken by Halton"):
        designers.register(type("Other", (Kronecker,), {"name": "halton"}))
    with pytest.raises(ConfigError, match="unknown designer 'kroneker' \\(did you mean "
                                          "'kronecker'.*valid designers: halton, bayesopt, "):
        designers.create("kroneker", 1, 0)


def test_points_outside_the_unit_cube_are_refused_before_any_trial_is_written(
        root, tmp_path, registered):
    class Stretched(Kronecker):
        name = "stretched"

        def suggest(self, n, observations=()):
            return 3.0 * super().suggest(n, observations)

    designers.register(Stretched)
    try:
        store = StudyStore(str(tmp_path / "study"))
        with pytest.raises(ConfigError, match="designer 'stretched' returned a point outside "
                                              "the unit cube .* dimension 0, 'learning_rate'"):
            runner.prepare(store, study(root, "stretched", budget=2))
        assert store.trial_ids() == []
    finally:
        del designers.REGISTRY["stretched"]
