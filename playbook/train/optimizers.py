"""Optimizers and learning-rate schedules built from a baseline config, with every
scalar hyperparameter carried as an array.

Trials of a study usually differ only in scalars (learning rate, weight decay,
momentum, ...). Passing those as Python constants would bake them into the
compiled train step and recompile per trial; here they travel as a pytree of
float32 arrays `hp` (from `hparams(config)`) that the jitted step takes as an
argument, so trials with the same `Structure` (optimizer, schedule, clipping)
share one program and can be batched with `jax.vmap`. The optimizers are optax's
own aliases under `optax.inject_hyperparams`; the schedule is a pure function of
the optimizer's update count and `hp`, written into the injected learning rate
before each update. This module does not loop, log or checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

from playbook.errors import ConfigError, closest

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "nadamw")
SCHEDULES = ("constant", "linear", "cosine")

# Arguments of every inner optimizer factory: the keys of `opt_state.hyperparams`.
OPTIMIZER_HPARAMS = ("learning_rate", "weight_decay", "momentum", "b1", "b2", "eps",
                     "grad_clip_norm")
# Schedule arrays: linear warmup length, decay end (= max_train_steps), end factor.
SCHEDULE_HPARAMS = ("warmup_steps", "decay_steps", "lr_end_factor")
HPARAMS = OPTIMIZER_HPARAMS + SCHEDULE_HPARAMS

_DEFAULTS = dict(weight_decay=0.0, momentum=0.9, b1=0.9, b2=0.999, eps=1e-8,
                 grad_clip_norm=0.0, schedule="constant", warmup_steps=0,
                 warmup_fraction=0.0, lr_end_factor=0.0)

Hparams = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Structure:
    """The choices that decide the compiled program; trials equal here share one."""

    optimizer: str
    schedule: str
    clip: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Optimizer:
    """An optax transformation with injected hyperparameters and its schedule.

    `hparams` are this config's values; a jitted step should take them (or any
    other trial's `hparams` of the same `structure`) as an argument, not close
    over them.
    """

    structure: Structure
    tx: optax.GradientTransformation
    hparams: Hparams

    def init(self, params: Any, hp: Mapping[str, Any] | None = None) -> optax.OptState:
        """Optimizer state for `params`, carrying `hp` (default: `self.hparams`)."""
        return init(self.tx, params, self.hparams if hp is None else hp)

    def apply(self, grads: Any, opt_state: optax.OptState, params: Any,
              hp: Mapping[str, Any], step: Any = None) -> tuple[Any, optax.OptState, jax.Array]:
        """One update; see `apply`."""
        return apply(self.tx, self.structure.schedule, grads, opt_state, params, hp, step)


def create(config: ConfigDict) -> Optimizer:
    """The optimizer of a baseline config; ConfigError for unknown or conflicting keys."""
    structure = structure_key(config)
    return Optimizer(structure=structure, tx=make(structure), hparams=hparams(config))


def structure_key(config: ConfigDict) -> Structure:
    """The non-scalar choices of `config`: optimizer name, schedule kind, clipping on/off."""
    optimizer = _choice(config, "optimizer", OPTIMIZERS)
    schedule = _choice(config, "schedule", SCHEDULES)
    return Structure(optimizer, schedule, clip=float(_get(config, "grad_clip_norm")) > 0)


def hparams(config: ConfigDict) -> Hparams:
    """Every scalar hyperparameter of `config` as a float32 array, keyed by `HPARAMS`.

    All keys are present for every optimizer (e.g. `b1` for sgd, unused) so that
    any two trials' `hp` stack into one batch.
    """
    values = {k: float(_get(config, k)) for k in OPTIMIZER_HPARAMS}
    values["warmup_steps"] = float(warmup_steps(config))
    values["decay_steps"] = float(_get(config, "max_train_steps"))
    values["lr_end_factor"] = float(_get(config, "lr_end_factor"))
    return {k: jnp.asarray(values[k], jnp.float32) for k in HPARAMS}


def warmup_steps(config: ConfigDict) -> int:
    """W: `warmup_steps`, or `round(warmup_fraction * max_train_steps)`; at most one set."""
    steps, fraction = int(_get(config, "warmup_steps")), float(_get(config, "warmup_fraction"))
    total = int(_get(config, "max_train_steps"))
    if steps and fraction:
        raise ConfigError(f"warmup_steps={steps} and warmup_fraction={fraction} are both set; "
                          "set at most one of them non-zero")
    if steps < 0 or not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"warmup_steps must be >= 0 and warmup_fraction in [0, 1], got "
                          f"{steps} and {fraction}")
    w = steps or round(fraction * total)
    if w > total:
        raise ConfigError(f"warmup_steps={w} exceeds max_train_steps={total}")
    return w


def make(structure: Structure) -> optax.GradientTransformation:
    """The optax transformation for `structure`; its state's `hyperparams` are arrays."""
    inner = _FACTORIES[structure.optimizer]
    factory = _clipped(inner) if structure.clip else _unclipped(inner)
    # float32 regardless of the params' dtype, so the state's structure never varies.
    return optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float32)(
        **{k: 0.0 for k in OPTIMIZER_HPARAMS})


def init(tx: optax.GradientTransformation, params: Any, hp: Mapping[str, Any]) -> optax.OptState:
    """`tx.init(params)` with the injected hyperparameters set from `hp`."""
    state = tx.init(params)
    return state._replace(hyperparams=_injected(hp, state))


def learning_rate(step: Any, hp: Mapping[str, Any], schedule: str) -> jax.Array:
    """The learning rate before update number `step` (0-based), as optax schedules count.

    Linear warmup from 0 to the peak `hp['learning_rate']` over W = `hp['warmup_steps']`
    steps, then `constant`, or a `linear` / half-`cosine` decay reaching
    `lr_end_factor * peak` at `decay_steps` (= max_train_steps) and staying there.
    Pure and jittable; `schedule` is static.
    """
    step = jnp.asarray(step, jnp.float32)
    peak, w = hp["learning_rate"], hp["warmup_steps"]
    end, total = hp["lr_end_factor"], hp["decay_steps"]
    warm = step / jnp.maximum(w, 1.0)
    frac = jnp.clip((step - w) / jnp.maximum(total - w, 1.0), 0.0, 1.0)
    if schedule == "constant":
        shape = jnp.ones_like(frac)
    elif schedule == "linear":
        shape = 1.0 - (1.0 - end) * frac
    elif schedule == "cosine":
        shape = end + (1.0 - end) * 0.5 * (1.0 + jnp.cos(math.pi * frac))
    else:
        raise ConfigError(f"schedule '{schedule}' is unknown{closest(schedule, SCHEDULES)}; "
                          f"valid: {', '.join(SCHEDULES)}")
    return peak * jnp.where(step < w, warm, shape)


def apply(tx: optax.GradientTransformation, schedule: str, grads: Any,
          opt_state: optax.OptState, params: Any,
          hp: Mapping[str, Any], step: Any = None) -> tuple[Any, optax.OptState, jax.Array]:
    """One optimizer update: `(new_params, new_opt_state, lr)`.

    The learning rate is `learning_rate(step, hp, schedule)`, `step` the count of
    updates already applied: the train state's step (`playbook.train.state`), restored
    with it on resumption; without one, optax's own count in `opt_state`.
    Every injected hyperparameter is overwritten from `hp` first, so `hp` is
    the single source of truth and may be traced (jit argument, vmap axis).
    """
    lr = learning_rate(opt_state.count if step is None else step, hp, schedule)
    injected = _injected(hp, opt_state)
    injected["learning_rate"] = lr.astype(injected["learning_rate"].dtype)
    updates, opt_state = tx.update(grads, opt_state._replace(hyperparams=injected), params)
    return optax.apply_updates(params, updates), opt_state, lr


def _injected(hp: Mapping[str, Any], state: optax.OptState) -> dict[str, jax.Array]:
    return {k: jnp.asarray(hp[k], v.dtype) for k, v in state.hyperparams.items()}


# Inner factories: one signature for all, so every state has the same hyperparams.
# L2 for the non-decoupled optimizers is always in the chain: a zero weight decay
# adds exactly 0 * params, and weight-decay sweeps including 0 share one program.
def _sgd(learning_rate, weight_decay, momentum, b1, b2, eps):
    del momentum, b1, b2, eps
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(learning_rate))


def _momentum(learning_rate, weight_decay, momentum, b1, b2, eps):
    del b1, b2, eps
    return optax.chain(optax.add_decayed_weights(weight_decay),
                       optax.sgd(learning_rate, momentum=momentum))


def _nesterov(learning_rate, weight_decay, momentum, b1, b2, eps):
    del b1, b2, eps
    return optax.chain(optax.add_decayed_weights(weight_decay),
                       optax.sgd(learning_rate, momentum=momentum, nesterov=True))


def _adam(learning_rate, weight_decay, momentum, b1, b2, eps):
    del momentum
    return optax.chain(optax.add_decayed_weights(weight_decay),
                       optax.adam(learning_rate, b1=b1, b2=b2, eps=eps))


def _adamw(learning_rate, weight_decay, momentum, b1, b2, eps):
    del momentum  # Decoupled: optax multiplies the decay by the learning rate.
    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)


def _nadamw(learning_rate, weight_decay, momentum, b1, b2, eps):
    del momentum
    return optax.nadamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)


_FACTORIES: dict[str, Callable[..., optax.GradientTransformation]] = dict(
    sgd=_sgd, momentum=_momentum, nesterov=_nesterov, adam=_adam, adamw=_adamw, nadamw=_nadamw)


def _clipped(factory: Callable[..., optax.GradientTransformation]):
    def clipped(learning_rate, weight_decay, momentum, b1, b2, eps, grad_clip_norm):
        return optax.chain(optax.clip_by_global_norm(grad_clip_norm),
                           factory(learning_rate, weight_decay, momentum, b1, b2, eps))
    return clipped


def _unclipped(factory: Callable[..., optax.GradientTransformation]):
    def unclipped(learning_rate, weight_decay, momentum, b1, b2, eps, grad_clip_norm):
        del grad_clip_norm  # Carried so clipped and unclipped states look alike.
        return factory(learning_rate, weight_decay, momentum, b1, b2, eps)
    return unclipped


def _get(config: ConfigDict, key: str) -> Any:
    value = config.get(key, _DEFAULTS.get(key))
    if value is None:
        raise ConfigError(f"the baseline config lacks '{key}'")
    return value


def _choice(config: ConfigDict, key: str, valid: tuple[str, ...]) -> str:
    value = _get(config, key)
    if value not in valid:
        raise ConfigError(f"{key} '{value}' is unknown{closest(str(value), valid)}; "
                          f"valid: {', '.join(valid)}")
    return value
