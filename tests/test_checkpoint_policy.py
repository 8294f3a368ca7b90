"""playbook.train.checkpoint_policy: which evaluations write a checkpoint, against a
clock the test advances, with real orbax checkpoints of a small state."""

import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from playbook.errors import ConfigError
from playbook.train.checkpoint_policy import CheckpointWriter, Policy
from playbook.train.checkpoints import Checkpoints

METRIC = "valid/error_rate"
# error rate per evaluation step: bests at 10, 20 and 70 (lower is better)
ERRORS = {10: 0.9, 20: 0.5, 30: 0.6, 40: 0.7, 50: 0.8, 60: 0.9, 70: 0.4, 80: 0.45, 90: 0.5,
          100: 0.6}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def state_at(step):
    return {"step": jnp.asarray(step, jnp.int32), "w": jnp.full((3,), float(step))}


def run(tmp_path, policy, errors=ERRORS):
    """Evaluations at each step of `errors`, one clock second apart: (saved steps in
    order, steps on disk at the end, the checkpoints)."""
    ckpts = Checkpoints(tmp_path, METRIC, "minimize", keep_best=1)
    clock, saved = Clock(), []
    save = ckpts.save
    ckpts.save = lambda step, state, metrics=None: saved.append(step) or save(step, state, metrics)
    writer = CheckpointWriter(ckpts, policy, last_step=max(errors), clock=clock)
    best = np.inf
    for step, error in errors.items():
        clock.now += 1.0
        writer.evaluated(step, state_at(step), {METRIC: error}, best=error <= best)
        best = min(best, error)
    ckpts.wait()
    return saved, ckpts.all_steps(), ckpts


def test_time_policy_saves_the_latest_every_few_seconds_and_each_best_before_it(tmp_path):
    saved, kept, ckpts = run(tmp_path, Policy(every_seconds=3))
    # Due at 30 (3 s), 60 and 90 (3 s after each), and the last step; the bests
    # 20 and 70 are written just before the save that follows them; 10 was superseded.
    assert saved == [20, 30, 60, 70, 90, 100]
    assert kept == [70, 100]
    restored = ckpts.restore(70, state_at(0))
    np.testing.assert_array_equal(restored["w"], np.full((3,), 70.0))
    assert int(restored["step"]) == 70
    ckpts.close()


def test_step_policy_and_the_every_evaluation_setting(tmp_path):
    saved, _, ckpts = run(tmp_path / "steps", Policy(every_seconds=0, every_steps=50))
    ckpts.close()
    assert saved == [20, 50, 70, 100]
    saved, _, ckpts = run(tmp_path / "all", Policy(every_seconds=0, every_steps=0))
    ckpts.close()
    assert saved == list(ERRORS)


def test_flush_writes_the_pending_best_as_it_was_at_its_evaluation(tmp_path):
    ckpts = Checkpoints(tmp_path, METRIC, "minimize", keep_best=1)
    writer = CheckpointWriter(ckpts, Policy(), last_step=1000, clock=Clock())
    state = state_at(20)
    writer.evaluated(20, state, {METRIC: 0.5}, best=True)
    state["w"] = state["w"] + 1.0  # later training must not change the pending copy
    assert ckpts.all_steps() == []  # nothing written before it is due
    writer.flush()
    ckpts.wait()
    assert ckpts.all_steps() == [20] and ckpts.metrics(20) == {METRIC: 0.5}
    np.testing.assert_array_equal(ckpts.restore(20, state_at(0))["w"], np.full((3,), 20.0))
    writer.flush()  # nothing pending: no second write
    ckpts.close()


def test_keep_best_above_one_saves_every_evaluation(tmp_path):
    with Checkpoints(tmp_path, METRIC, "minimize", keep_best=2) as ckpts:
        assert CheckpointWriter(ckpts, Policy(), last_step=100).every_evaluation


@pytest.mark.parametrize("key", ["save_latest_every_seconds", "save_latest_every_steps"])
def test_a_negative_interval_is_a_config_error_naming_the_key(key):
    with pytest.raises(ConfigError, match=f"checkpoint.{key}=-1"):
        Policy.from_config(ConfigDict({"keep_best": 1, key: -1}))
    assert Policy.from_config(None) == Policy(60.0, 0)

