"""Trial checkpoints: best N by the selection metric under either goal, the
latest kept for resumption, exact restoration, reopening, and damaged or
interrupted checkpoints."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.synthetic_mlp import get_config
from playbook.errors import ConfigError
from playbook.train import optimizers
from playbook.train.checkpoints import Checkpoints


def _state(step=0, scale=1.0):
    """A train state as the loop holds it: params, injected-hyperparameter opt state, rng."""
    params = {"dense": {"kernel": scale * jnp.arange(12.0).reshape(4, 3), "bias": jnp.ones(3)}}
    opt = optimizers.create(get_config())
    opt_state = opt.init(params)
    grads = jax.tree.map(lambda p: 0.1 * p + 0.01, params)
    params, opt_state, _ = opt.apply(grads, opt_state, params, opt.hparams)
    return {"params": params, "opt_state": opt_state, "step": jnp.int32(step),
            "rng": jax.random.fold_in(jax.random.PRNGKey(0), step)}


def _save_all(ckpts, values, key="valid/error_rate"):
    for step, value in enumerate(values, start=1):
        metrics = None if value is None else {key: value, "valid/loss": 1.0}
        assert ckpts.save(step, _state(step, scale=step), metrics)
    ckpts.wait()


def test_keep_best_one_keeps_lowest_metric_when_minimizing_and_the_latest(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        _save_all(ckpts, [0.5, 0.2, 0.4, 0.3, 0.6])
        assert ckpts.all_steps() == [2, 5]
        assert ckpts.best_steps() == [2]
        assert ckpts.latest_step() == 5
        assert ckpts.best_path() == os.path.join(tmp_path, "checkpoints", "2")
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "5"]


def test_keep_best_one_keeps_highest_metric_when_maximizing(tmp_path):
    with Checkpoints(tmp_path, "valid/accuracy", "maximize") as ckpts:
        _save_all(ckpts, [0.5, 0.9, 0.4, 0.95, 0.6], key="valid/accuracy")
        assert ckpts.all_steps() == [4, 5]
        assert ckpts.best_step() == 4


def test_keep_best_two_keeps_the_two_best_in_order(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize", keep_best=2) as ckpts:
        _save_all(ckpts, [0.5, 0.2, 0.4, 0.3, 0.6])
        assert ckpts.all_steps() == [2, 4, 5]
        assert ckpts.best_steps() == [2, 4]


def test_latest_only_checkpoint_is_kept_only_while_it_is_latest(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        _save_all(ckpts, [0.5, None, None])
        assert ckpts.all_steps() == [1, 3]
        assert ckpts.metrics(3) is None
        assert ckpts.best_step() == 1


def test_non_finite_metric_is_never_preferred(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        _save_all(ckpts, [0.5, float("nan"), 0.7, float("inf")])
        assert ckpts.all_steps() == [1, 4]
        assert ckpts.best_step() == 1


def test_restore_returns_saved_values_with_the_target_structure(tmp_path):
    saved = _state(3, scale=2.0)
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        ckpts.save(3, saved, {"valid/error_rate": 0.25})
        restored = ckpts.restore_latest(_state())
        best = ckpts.restore_best(_state())
    assert restored.step == best.step == 3
    assert jax.tree.structure(restored.state) == jax.tree.structure(saved)
    assert type(restored.state["opt_state"]) is type(saved["opt_state"])
    jax.tree.map(np.testing.assert_array_equal, restored.state, saved)
    assert float(restored.state["opt_state"].hyperparams["b2"]) == pytest.approx(0.999)


def test_reopened_checkpoints_find_the_same_latest_best_and_metrics(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        _save_all(ckpts, [0.5, 0.2, 0.4])
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as reopened:
        assert reopened.latest_step() == 3 and reopened.best_step() == 2
        assert reopened.metrics(2) == {"valid/error_rate": 0.2, "valid/loss": 1.0}
        # Retention continues across the reopening: step 4 is better than 2.
        reopened.save(4, _state(4), {"valid/error_rate": 0.1, "valid/loss": 1.0})
        reopened.wait()
        assert reopened.all_steps() == [4]


def test_save_at_or_before_the_latest_step_writes_nothing(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        assert ckpts.save(5, _state(5))
        assert not ckpts.save(5, _state(6))
        assert not ckpts.save(4, _state(4))
        assert ckpts.all_steps() == [5]


# A failed tensorstore read sometimes reports to orbax's already closed event loop.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_damaged_latest_checkpoint_falls_back_to_earlier_and_is_deleted(tmp_path, caplog):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        _save_all(ckpts, [0.2, 0.4])
    # Lose the array data of the latest step, as a full disk or a bad copy would.
    for root, dirs, _ in os.walk(tmp_path / "checkpoints" / "2"):
        for d in [d for d in dirs if d == "d"]:
            shutil.rmtree(os.path.join(root, d))
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        restored = ckpts.restore_latest(_state())
        assert restored.step == 1
        assert "checkpoint at step 2 is unreadable, deleting it" in caplog.text
        np.testing.assert_array_equal(restored.state["params"]["dense"]["kernel"],
                                      _state(1, scale=1.0)["params"]["dense"]["kernel"])
        assert ckpts.all_steps() == [1]
        assert ckpts.save(2, _state(2), {"valid/error_rate": 0.3})  # The trial can go on.


def test_interrupted_save_leaves_no_step_and_is_cleaned_up(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        _save_all(ckpts, [0.2])
    # What a save killed before orbax's final rename leaves behind.
    tmp_dir = tmp_path / "checkpoints" / "2.orbax-checkpoint-tmp-1234567"
    tmp_dir.mkdir()
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        assert ckpts.latest_step() == 1
        assert ckpts.restore_latest(_state()).step == 1
    assert not tmp_dir.exists()


def test_no_checkpoint_restores_to_none(tmp_path):
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        assert ckpts.restore_latest(_state()) is None
        assert ckpts.restore_best(_state()) is None
        assert ckpts.best_path() is None


def test_unknown_goal_and_missing_metric_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="goal 'lowest'.*minimize, maximize"):
        Checkpoints(tmp_path, "valid/error_rate", "lowest")
    with Checkpoints(tmp_path, "valid/error_rate", "minimize") as ckpts:
        with pytest.raises(ValueError, match="lack the selection metric 'valid/error_rate'"):
            ckpts.save(1, _state(), {"valid/loss": 0.3})
