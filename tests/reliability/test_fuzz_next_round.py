"""Fuzzing `playbook next` over the study declarations of test_fuzz_study_configs.py.

For any declaration the study config accepts, and any outcome of its trials
(done with any objective and best step, diverged, a mix), the drafted next
round must load as `playbook study` loads it, pass `--dry_run`, keep every
range inside its natural limits, and never be empty or inverted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from test_analysis_load import write_trial

from playbook import cli
from playbook import search as hp
from playbook.analysis import rounds
from playbook.errors import ConfigError
from playbook.study import StudySpec, define
from reliability.test_fuzz_study_configs import FUZZ, SCALE, build, plausible_study

EXAMPLES = 100  # about 10 s; PLAYBOOK_FUZZ_SCALE multiplies it


def _spec(kwargs) -> StudySpec:
    try:
        return StudySpec.from_config(define(**build(kwargs)), None)
    except ConfigError:
        assume(False)


def _write(root: str, spec: StudySpec, outcomes, shape: str) -> None:
    """Trials at random points with `outcomes`; `shape` 'unstable' makes every trial past
    0.7 of the first dimension diverge and the objective best near 0.6 (a threshold with
    the best just below it), 'early' puts every best checkpoint in the first 5%."""
    os.makedirs(os.path.join(root, "trials"))
    with open(os.path.join(root, "study.json"), "w") as f:
        json.dump({"version": 1, "created": 1.7e9, "spec": spec.to_dict(),
                   "designer": {"name": spec.designer, "seed": spec.seed, "drawn": 0}}, f)
    rng = np.random.default_rng(len(outcomes))
    points = rng.uniform(0, 1, (len(outcomes), len(spec.dimensions)))
    for trial, point, (status, objective, fraction) in zip(spec.trials(points), points,
                                                          outcomes):
        if shape == "unstable" and len(point):
            status = "diverged" if point[0] > 0.7 else "done"
            objective = abs(point[0] - 0.6)
        if shape == "early":
            fraction = 0.05
        write_trial(root, trial.trial_id, trial.scientific, trial.nuisance, status=status,
                    objective=objective, max_steps=200, best_step=max(1, int(200 * fraction)),
                    metric=spec.metric)


def _inside(key: str, spec: hp.Spec | hp.Branches) -> None:
    for branch in spec.branches if isinstance(spec, hp.Branches) else ((None, spec),):
        branch = branch[1]
        branch.check(key)
        hp.check_limits(key, branch)
        if isinstance(branch, (hp.Float, hp.Int)):
            assert branch.low < branch.high


outcome = st.tuples(st.sampled_from(("done", "done", "diverged")),
                    st.floats(0.0, 1.0), st.floats(0.01, 1.0))


@settings(parent=FUZZ, max_examples=int(EXAMPLES * SCALE))
@pytest.mark.slow
@given(kwargs=plausible_study(), outcomes=st.lists(outcome, min_size=4, max_size=10),
       shape=st.sampled_from(("random", "unstable", "early")))
def test_a_drafted_round_always_loads_and_stays_inside_natural_limits(kwargs, outcomes, shape):
    spec = _spec(kwargs)
    assume(len(spec.scientific_values()) * len(outcomes) <= 24)
    outcomes = [("done", *outcomes[0][1:]), *outcomes[1:]]  # at least one finished trial
    assume(shape != "unstable" or spec.dimensions)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "study")
        _write(root, spec, outcomes, shape)
        written = rounds.write_next(root)
        drafted = StudySpec.load(written.config)
        for change in written.draft.changes:
            event(f"{change.finding}{' (kept)' if change.kept else ''}")
        for key, spec_ in drafted.nuisance.items():
            _inside(key, spec_)
        assert drafted.scientific == spec.scientific
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["study", "--config", written.config, "--workdir",
                             os.path.join(tmp, "next"), "--dry_run"]) == 0

