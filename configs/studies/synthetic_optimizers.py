"""A tiny study on the synthetic workload, for smoke tests (seconds per trial).

    playbook study --config configs/studies/synthetic_optimizers.py --workdir runs/synthetic_study
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        baseline="../synthetic_mlp.py",
        scientific={"optimizer": ["nesterov", "adamw"]},
        nuisance={
            # Playbook: each optimizer's learning rate is its own hyperparameter.
            "learning_rate": hp.branches("optimizer", {
                "nesterov": hp.log(1e-3, 1.0),
                "adamw": hp.log(1e-4, 1e-1),
            }),
            "momentum": hp.reverse_log(0.8, 0.995, when={"optimizer": "nesterov"}),
            "b1": hp.reverse_log(0.8, 0.99, when={"optimizer": "adamw"}),
            "weight_decay": hp.log(1e-6, 1e-2),
        },
        budget=4,
        metric="valid/error_rate",
    )
