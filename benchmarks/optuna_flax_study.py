"""The peer's way, for benchmarks/study_vs_optuna.py: Optuna's QMC sampler (scrambled
Halton) driving a hand-written Flax/optax loop, as the Flax documentation writes one.

    python benchmarks/optuna_flax_study.py DATA.npz --eval_every 100 --budget 16

`DATA.npz` holds the MNIST-1D train and validation arrays playbook uses
(`study_vs_optuna.export_data`). For each optimizer (Nesterov, AdamW) one Optuna
study of `--budget` trials samples the learning rate (log-uniform) and momentum /
b1 (log-uniform in 1 - value), the ranges of benchmarks/study_mnist1d_halton.py.
Each trial: the 40-256-256-10 ReLU MLP, batch 128, a constant learning rate,
2000 steps of a `jax.jit` train step on a `flax.training.train_state.TrainState`
(one dispatch per step, batches indexed on the host from a per-epoch permutation),
the validation error every `--eval_every` steps, and the best parameters kept in
memory (no files). Prints one JSON line: trials, best error per optimizer.
Imports nothing from playbook, so its start-up is its own.
"""

from __future__ import annotations

import argparse
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optuna
from flax.training import train_state

SPACE = {"nesterov": {"learning_rate": (1e-3, 1.0), "momentum": (0.8, 0.99)},
         "adamw": {"learning_rate": (1e-4, 3e-2), "b1": (0.8, 0.99)}}
STEPS, BATCH = 2000, 128


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for width in (256, 256):
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(10)(x)


@jax.jit
def train_step(state, x, y):
    def loss_fn(params):
        logits = state.apply_fn({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def error_rate(state, x, y):
    return jnp.mean(jnp.argmax(state.apply_fn({"params": state.params}, x), -1) != y)


def train(tx, data, eval_every: int, seed: int = 0) -> float:
    """The best validation error of one trial."""
    x, y, vx, vy = data
    model = MLP()
    params = model.init(jax.random.PRNGKey(seed), x[:1])["params"]
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    rng = np.random.default_rng(seed)
    order, pos = rng.permutation(len(x)), 0
    best, best_params = np.inf, None
    for step in range(1, STEPS + 1):
        if pos + BATCH > len(x):
            order, pos = rng.permutation(len(x)), 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        state, _ = train_step(state, x[idx], y[idx])
        if step % eval_every == 0 or step == STEPS:
            err = float(error_rate(state, vx, vy))
            if err <= best:
                best, best_params = err, state.params  # kept in memory
    del best_params
    return best


def objective(name: str, data, eval_every: int):
    def run(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", *SPACE[name]["learning_rate"], log=True)
        if name == "nesterov":
            low, high = SPACE[name]["momentum"]
            momentum = 1 - trial.suggest_float("one_minus_momentum", 1 - high, 1 - low, log=True)
            tx = optax.sgd(lr, momentum=momentum, nesterov=True)
        else:
            low, high = SPACE[name]["b1"]
            b1 = 1 - trial.suggest_float("one_minus_b1", 1 - high, 1 - low, log=True)
            tx = optax.adamw(lr, b1=b1, weight_decay=0.0)
        return train(tx, data, eval_every, seed=trial.number)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--budget", type=int, default=16, help="trials per optimizer")
    args = parser.parse_args()
    arrays = np.load(args.data)
    data = tuple(jnp.asarray(arrays[k]) if k.startswith("valid") else arrays[k]
                 for k in ("train_x", "train_y", "valid_x", "valid_y"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best = {}
    for name in SPACE:
        sampler = optuna.samplers.QMCSampler(qmc_type="halton", scramble=True, seed=0)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.optimize(objective(name, data, args.eval_every), n_trials=args.budget)
        best[name] = study.best_value
    print(json.dumps({"trials": args.budget * len(SPACE), "best": best}))


if __name__ == "__main__":
    main()
