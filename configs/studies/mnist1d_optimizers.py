"""Does AdamW beat Nesterov momentum on MNIST-1D, each with its nuisance
hyperparameters tuned? The README's main study.

    playbook study --config configs/studies/mnist1d_optimizers.py --workdir runs/mnist1d_optimizers

Scientific: the optimizer. Nuisance: each optimizer's own learning-rate range
(Playbook: namespace conditional hyperparameters per branch), momentum for
Nesterov, beta1 for AdamW, and weight decay. Everything else is fixed by
configs/mnist1d_mlp.py.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_optimizers",
        description="nesterov vs adamw on MNIST-1D (MLP), nuisance: lr, momentum/b1, wd",
        baseline="../mnist1d_mlp.py",
        scientific={"optimizer": ["nesterov", "adamw"]},
        nuisance={
            "learning_rate": hp.branches("optimizer", {
                "nesterov": hp.log(1e-3, 1.0),
                "adamw": hp.log(1e-4, 3e-2),
            }),
            "momentum": hp.reverse_log(0.8, 0.995, when={"optimizer": "nesterov"}),
            "b1": hp.reverse_log(0.8, 0.99, when={"optimizer": "adamw"}),
            "weight_decay": hp.log(1e-6, 1e-2),
        },
        budget=6,
        metric="valid/error_rate",
    )
