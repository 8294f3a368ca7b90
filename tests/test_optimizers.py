"""Optimizers with array hyperparameters: exact agreement with optax's own
optimizers and schedules, closed-form schedule values, one compiled program per
structure, batching trials with vmap, and config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs.synthetic_mlp import get_config
from playbook.errors import ConfigError
from playbook.train import optimizers

STEPS, WARMUP = 20, 5


def _problem():
    """A least-squares regression: 32 examples, 4 features, 3 targets."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x @ rng.normal(size=(4, 3)) + 0.1 * rng.normal(size=(32, 3))).astype(np.float32)
    params = {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32), "b": jnp.zeros(3)}

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    return params, loss


def _config(**values):
    c = get_config()
    c.update(dict(learning_rate=0.05, weight_decay=0.01, momentum=0.8, b1=0.85, b2=0.99,
                  eps=1e-6, schedule="cosine", warmup_steps=WARMUP, lr_end_factor=0.1,
                  max_train_steps=STEPS))
    c.update(values)
    return c


def _run_ours(config, steps=STEPS):
    params, loss = _problem()
    opt = optimizers.create(config)
    state = opt.init(params)

    @jax.jit
    def step(params, state, hp):
        new_params, state, _ = opt.apply(jax.grad(loss)(params), state, params, hp)
        return new_params, state

    for _ in range(steps):
        params, state = step(params, state, opt.hparams)
    return params


def _run_optax(tx, steps=STEPS):
    params, loss = _problem()
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    return params


def _reference(name, lr, wd=0.01, clip=0.0):
    """The same optimizer spelled with optax's aliases and a schedule callable."""
    l2 = optax.add_decayed_weights(wd)
    tx = {
        "sgd": lambda: optax.chain(l2, optax.sgd(lr)),
        "momentum": lambda: optax.chain(l2, optax.sgd(lr, momentum=0.8)),
        "nesterov": lambda: optax.chain(l2, optax.sgd(lr, momentum=0.8, nesterov=True)),
        "adam": lambda: optax.chain(l2, optax.adam(lr, b1=0.85, b2=0.99, eps=1e-6)),
        "adamw": lambda: optax.adamw(lr, b1=0.85, b2=0.99, eps=1e-6, weight_decay=wd),
        "nadamw": lambda: optax.nadamw(lr, b1=0.85, b2=0.99, eps=1e-6, weight_decay=wd),
    }[name]()
    return optax.chain(optax.clip_by_global_norm(clip), tx) if clip else tx


def _assert_trees_close(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7), a, b)


def _warmup_cosine():
    return optax.warmup_cosine_decay_schedule(0.0, 0.05, WARMUP, STEPS, end_value=0.005)


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_each_optimizer_matches_optax_with_warmup_cosine_schedule(name):
    ours = _run_ours(_config(optimizer=name))
    _assert_trees_close(ours, _run_optax(_reference(name, _warmup_cosine())))
    # The run moved the parameters, so agreement is not trivially at the start.
    assert not np.allclose(ours["w"], _problem()[0]["w"], atol=1e-3)


def test_clipping_matches_optax_clip_by_global_norm():
    ours = _run_ours(_config(optimizer="momentum", grad_clip_norm=0.5))
    reference = _reference("momentum", _warmup_cosine(), clip=0.5)
    _assert_trees_close(ours, _run_optax(reference))
    unclipped = _run_optax(_reference("momentum", _warmup_cosine()))
    assert not np.allclose(ours["w"], unclipped["w"], rtol=1e-3)


def test_linear_decay_matches_optax_joined_schedules():
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, 0.05, WARMUP), optax.linear_schedule(0.05, 0.005, 15)],
        [WARMUP])
    ours = _run_ours(_config(optimizer="adamw", schedule="linear"))
    _assert_trees_close(ours, _run_optax(_reference("adamw", schedule)))


def test_constant_schedule_without_warmup_matches_constant_learning_rate():
    ours = _run_ours(_config(optimizer="nadamw", schedule="constant", warmup_steps=0))
    _assert_trees_close(ours, _run_optax(_reference("nadamw", 0.05)))


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ("linear", [0.0, 0.5, 1.0, 0.775, 0.55, 0.1, 0.1]),
    ("cosine", [0.0, 0.5, 1.0, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi / 4)), 0.55, 0.1, 0.1]),
])
def test_schedule_values_equal_closed_form(schedule, expected):
    # Warmup 10 steps to the peak 1.0, then decay over 100 steps to 0.1.
    hp = optimizers.hparams(_config(learning_rate=1.0, warmup_steps=10, max_train_steps=110))
    steps = jnp.array([0, 5, 10, 35, 60, 110, 200])
    lr = jax.vmap(lambda s: optimizers.learning_rate(s, hp, schedule))(steps)
    np.testing.assert_allclose(lr, expected, rtol=1e-6, atol=1e-7)


def test_warmup_fraction_is_rounded_fraction_of_max_train_steps():
    hp = optimizers.hparams(_config(warmup_steps=0, warmup_fraction=0.05, max_train_steps=110))
    assert float(hp["warmup_steps"]) == 6.0  # round(5.5) by Python's rounding
    assert float(optimizers.learning_rate(3, hp, "cosine")) == pytest.approx(0.05 * 3 / 6)


def test_state_records_the_learning_rate_used_at_each_step():
    params, loss = _problem()
    opt = optimizers.create(_config(optimizer="adam"))
    state = opt.init(params)
    for expected in [0.0, 0.01, 0.02]:
        params, state, lr = opt.apply(jax.grad(loss)(params), state, params, opt.hparams)
        assert float(lr) == pytest.approx(expected)
        assert float(state.hyperparams["learning_rate"]) == pytest.approx(expected)
    assert int(state.count) == 3


def test_changing_scalar_hyperparameters_does_not_retrace():
    params, loss = _problem()
    opt = optimizers.create(_config(optimizer="adamw"))
    traces = []

    @jax.jit
    def step(params, state, hp):
        traces.append(1)  # Runs only while tracing.
        return opt.apply(jax.grad(loss)(params), state, params, hp)

    results = []
    for values in [{}, dict(learning_rate=0.5), dict(b1=0.5, weight_decay=0.0),
                   dict(warmup_steps=2, lr_end_factor=0.5, eps=1e-3)]:
        hp = optimizers.hparams(_config(optimizer="adamw", **{"warmup_steps": 0, **values}))
        p, state = params, opt.init(params, hp)
        for _ in range(3):
            p, state, _ = step(p, state, hp)
        results.append(np.asarray(p["w"]))
    assert len(traces) == 1
    # The values did reach the program: the trials' parameters differ.
    for i in range(1, len(results)):
        assert not np.allclose(results[0], results[i], rtol=1e-4)


def test_vmap_over_two_trials_equals_two_separate_runs():
    params, loss = _problem()
    configs = [_config(optimizer="nesterov", learning_rate=0.05, momentum=0.9),
               _config(optimizer="nesterov", learning_rate=0.2, momentum=0.5, weight_decay=0.0)]
    opt = optimizers.create(configs[0])
    hps = [optimizers.hparams(c) for c in configs]

    def run(hp):
        p, state = params, opt.init(params, hp)
        for _ in range(10):
            p, state, _ = opt.apply(jax.grad(loss)(p), state, p, hp)
        return p

    batched = jax.jit(jax.vmap(run))(jax.tree.map(lambda *x: jnp.stack(x), *hps))
    for i, hp in enumerate(hps):
        _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), jax.jit(run)(hp))
    assert not np.allclose(batched["w"][0], batched["w"][1], rtol=1e-3)


def test_structure_key_separates_optimizer_schedule_and_clipping_only():
    key = optimizers.structure_key
    assert key(_config()) == key(_config(learning_rate=1.0, weight_decay=0.0, b2=0.9))
    assert key(_config()) != key(_config(grad_clip_norm=1.0))
    assert key(_config()) != key(_config(schedule="linear"))
    assert key(_config(optimizer="adam")) == optimizers.Structure("adam", "cosine", False)


def test_unknown_optimizer_is_a_config_error_naming_key_and_valid_values():
    with pytest.raises(ConfigError) as e:
        optimizers.create(_config(optimizer="adamx"))
    message = str(e.value)
    assert "optimizer 'adamx'" in message and "did you mean 'adam" in message
    assert "sgd, momentum, nesterov, adam, adamw, nadamw" in message
    assert "\n" not in message


def test_unknown_schedule_is_a_config_error_listing_schedules():
    with pytest.raises(ConfigError, match="schedule 'cosin'.*did you mean 'cosine'.*constant"):
        optimizers.create(_config(schedule="cosin"))


def test_both_warmups_set_is_a_config_error_naming_both():
    with pytest.raises(ConfigError, match="warmup_steps=5 and warmup_fraction=0.1"):
        optimizers.create(_config(warmup_steps=5, warmup_fraction=0.1))


def test_warmup_longer_than_training_is_a_config_error():
    with pytest.raises(ConfigError, match="warmup_steps=30 exceeds max_train_steps=20"):
        optimizers.create(_config(warmup_steps=30))


def test_missing_required_key_is_a_config_error_naming_it():
    config = _config()
    del config["learning_rate"]
    with pytest.raises(ConfigError, match="lacks 'learning_rate'"):
        optimizers.create(config)
