"""The training driver and its pieces: the loop keeps two dispatches in flight and
reads a log interval after the next is sent; evaluation keeps at most two in flight
(one trial or K); the train state has one step counter, which the schedule reads;
checkpoints in the layout they had before the state was typed still restore."""

import types

import jax
import numpy as np
import pytest

from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.train import driver, evaluation, loop, optimizers
from playbook.train.checkpoints import Checkpoints
from playbook.train.state import TrainState, check_restored


class _Program:
    """An evaluation program over host arrays that notes, at each call, which
    earlier outputs had been waited for (`jax.block_until_ready`)."""

    def __init__(self, monkeypatch):
        self.outputs, self.waited, self.seen_at_call = [], set(), []
        monkeypatch.setattr(evaluation.jax, "block_until_ready", self._wait)

    def _wait(self, out):
        self.waited.add(next(i for i, o in enumerate(self.outputs) if o is out))
        return out

    def __call__(self, params, inputs, labels, weights, model_state):
        self.seen_at_call.append(set(self.waited))
        out = ({"error": np.sum(weights * (inputs != labels), axis=-1) * params},
               np.sum(weights, axis=-1))
        self.outputs.append(out)
        return out


def _batches(rng, members=None):
    shape = (8,) if members is None else (members, 8)
    return [(rng.integers(0, 3, shape), rng.integers(0, 3, shape),
             np.broadcast_to(np.r_[np.ones(6), np.zeros(2) if b == 4 else np.ones(2)], shape))
            for b in range(5)]


def test_evaluation_keeps_at_most_two_dispatches_in_flight_and_weights_the_means(monkeypatch):
    program, batches = _Program(monkeypatch), _batches(np.random.default_rng(0))
    valid = evaluation.evaluate(program, 1.0, batches)
    # Before dispatch i, every dispatch older than i - 2 has been waited for.
    for i, waited in enumerate(program.seen_at_call):
        assert set(range(i - 2)) <= waited, (i, waited)
    inputs, labels, weights = (np.concatenate([b[k] for b in batches]) for k in range(3))
    assert valid == {"valid/error": pytest.approx(
        np.sum(weights * (inputs != labels)) / np.sum(weights))}


def test_group_evaluation_gives_each_member_its_own_means_under_the_same_cap(monkeypatch):
    program, batches = _Program(monkeypatch), _batches(np.random.default_rng(1), members=3)
    scale = np.array([1.0, 2.0, 3.0])
    valid = evaluation.evaluate(program, scale, batches, prefix="test", members=3)
    for i, waited in enumerate(program.seen_at_call):
        assert set(range(i - 2)) <= waited
    inputs, labels, weights = (np.concatenate([b[k] for b in batches], axis=1) for k in range(3))
    for m in range(3):
        truth = scale[m] * np.sum(weights[m] * (inputs[m] != labels[m])) / np.sum(weights[m])
        assert valid[m] == {"test/error": pytest.approx(truth)}


def test_the_schedule_reads_the_train_state_step():
    # optax's own counts stay at 0: the learning rate follows `state.step` alone.
    config = config_lib.with_values(synthetic_mlp.get_config(), {"warmup_steps": 100})
    trial = loop.setup(config)
    state, hp, rng = loop.start(trial)
    state = state.replace(step=jax.numpy.asarray(37, jax.numpy.int32))
    n = trial.steps_per_dispatch
    _, stats = loop.programs(trial).train(state, hp, rng, *loop.train_batches(trial, 37, n))
    expected = optimizers.learning_rate(37, trial.optimizer.hparams, "constant")
    assert float(stats["learning_rate"][0]) == pytest.approx(float(expected))
    assert float(expected) == pytest.approx(0.37 * trial.optimizer.hparams["learning_rate"])


def test_a_checkpoint_in_the_untyped_layout_restores_as_a_train_state(tmp_path):
    trial = loop.setup(synthetic_mlp.get_config())
    state, _, _ = loop.start(trial)
    old = {"step": np.int32(0), "params": state.params, "model_state": state.model_state,
           "opt_state": state.opt_state, "initial_loss": np.float32(2.5)}
    with Checkpoints(str(tmp_path), trial.metric, trial.goal) as ckpts:
        ckpts.save(0, old, {trial.metric: 0.5})
        ckpts.wait()
    step, restored = loop.restore(synthetic_mlp.get_config(), tmp_path, "latest")
    assert step == 0 and isinstance(restored, TrainState)
    assert float(restored.initial_loss) == 2.5
    for a, b in zip(jax.tree.leaves(restored.params), jax.tree.leaves(state.params)):
        np.testing.assert_array_equal(a, b)


def test_a_restored_state_whose_counters_disagree_is_refused():
    trial = loop.setup(synthetic_mlp.get_config())
    state, _, _ = loop.start(trial)
    check_restored(state, 0)
    with pytest.raises(RuntimeError, match="checkpoint 5 holds state of step 0"):
        check_restored(state, 5)
    with pytest.raises(RuntimeError, match="optimizer counts"):
        check_restored(state.replace(step=jax.numpy.asarray(5)), 5)


class _Run:
    """A TrialRun stand-in that notes what the driver hands it, and when."""

    def __init__(self, events):
        self.events, self.final = events, None

    def start_interval(self):
        pass

    def record(self, step, stats, evaluation=None):
        self.events.append(("read", step, [s["dispatch"] for s in stats],
                            evaluation is not None and evaluation()[0]["valid/x"]))
        return None

    def finish(self, status, error=None, reason=None):
        return status


class _Driver(driver.Driver):
    """The real loop over a stand-in program: a dispatch is a number."""

    def __init__(self, trial, events):
        super().__init__(trial, [_Run(events)], progs=None, hp=None, rng=None)
        self.events, self.dispatched = events, 0

    def dispatch(self, state, step, num_steps):
        self.events.append(("dispatch", step + num_steps))
        self.dispatched += 1
        return state, {"dispatch": self.dispatched}

    def evaluate(self, state, batches):
        return [{"valid/x": float(self.dispatched)}]


def test_the_driver_keeps_two_dispatches_in_flight_and_reads_an_interval_after_the_next_is_sent(
        monkeypatch):
    trial = types.SimpleNamespace(max_train_steps=100, eval_every_steps=50, log_every_steps=20,
                                  steps_per_dispatch=10)
    events = []
    monkeypatch.setattr(driver.jax, "block_until_ready",
                        lambda stats: events.append(("wait", stats["dispatch"])))
    monkeypatch.setattr(driver.setup_lib, "eval_batches", lambda trial: [])
    assert _Driver(trial, events).run(state="state", step=0) == ["done"]
    dispatches = [e for e in events if e[0] == "dispatch"]
    assert [e[1] for e in dispatches] == list(range(10, 101, 10))
    # Dispatches are numbered from 1: before number k is sent, number k - 2 was waited for.
    sent = [i for i, e in enumerate(events) if e[0] == "dispatch"]
    for k, i in enumerate(sent, start=1):
        assert k < 3 or ("wait", k - 2) in events[:i], (k, events[:i])
    reads = [e for e in events if e[0] == "read"]
    assert [r[1] for r in reads] == [20, 40, 50, 60, 80, 100]
    # A log interval is read once the next dispatch is sent; an evaluation step at once,
    # with the validation metrics of the state after its own dispatch.
    assert reads[0][2] == [1, 2] and events.index(reads[0]) > events.index(("dispatch", 30))
    assert reads[2] == ("read", 50, [5], 5.0) and events.index(reads[2]) < events.index(
        ("dispatch", 60))
