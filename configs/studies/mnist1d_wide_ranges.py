"""Nesterov vs Adam on MNIST-1D with ranges that reach the natural limits of
momentum and beta1: where the best trials sit at momentum (or b1) near 0, the
boundary finding says the optimum is at the natural limit and proposes no
expansion below 0.

    playbook study --config configs/studies/mnist1d_wide_ranges.py \
        --workdir runs/mnist1d_wide_ranges

Scientific: the optimizer. Nuisance: each optimizer's learning rate, momentum
reverse_log [0, 0.999] (Nesterov), b1 reverse_log [1e-4, 0.999] and eps log
[1e-10, 10] (Adam). Fixed: constant schedule, no weight decay, 2000 steps.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_wide_ranges",
        description="nesterov vs adam on MNIST-1D (MLP), wide momentum/b1/eps ranges",
        baseline="../mnist1d_mlp.py",
        scientific={"optimizer": ["nesterov", "adam"]},
        nuisance={
            "learning_rate": hp.branches("optimizer", {
                "nesterov": hp.log(1e-3, 1.0),
                "adam": hp.log(1e-4, 1e-1),
            }),
            "momentum": hp.reverse_log(0.0, 0.999, when={"optimizer": "nesterov"}),
            "b1": hp.reverse_log(1e-4, 0.999, when={"optimizer": "adam"}),
            "eps": hp.log(1e-10, 10.0, when={"optimizer": "adam"}),
        },
        fixed={
            "schedule": "constant",
            "weight_decay": 0.0,
            "max_train_steps": 2000,
            "eval_every_steps": 100,
        },
        budget=12,
        metric="valid/error_rate",
    )
