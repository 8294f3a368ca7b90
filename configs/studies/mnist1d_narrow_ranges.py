"""Nesterov vs AdamW on MNIST-1D with learning-rate ranges set a decade too low
and a small budget: the best trials are the highest learning rates sampled, at
85% of each range, inside neither range's outer tenth. The boundary finding
still flags each branch's upper bound (no trial was sampled beyond the best),
and `playbook next` expands both ranges (docs/VALIDITY.md, section 3).

    playbook study --config configs/studies/mnist1d_narrow_ranges.py \\
        --workdir runs/mnist1d_narrow_ranges
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_narrow_ranges",
        description="nesterov vs adamw on MNIST-1D (MLP), learning rates a decade too low",
        baseline="../mnist1d_mlp.py",
        scientific={"optimizer": ["nesterov", "adamw"]},
        nuisance={
            "learning_rate": hp.branches("optimizer", {
                "nesterov": hp.log(1e-4, 1e-3),
                "adamw": hp.log(1e-5, 1e-4),
            }),
            "weight_decay": hp.log(1e-6, 1e-4),
        },
        budget=5,
        metric="valid/error_rate",
    )
