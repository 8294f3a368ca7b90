"""Where does Nesterov momentum become unstable on MNIST-1D? A study whose
high-learning-rate trials collapse to chance.

    playbook study --config configs/studies/mnist1d_nesterov_stability.py \
        --workdir runs/mnist1d_nesterov_stability

Scientific: the optimizer (Nesterov alone). Nuisance: the learning rate over
three decades and momentum from 0.5 to 0.999. Fixed: constant schedule, no
weight decay, 2000 steps, evaluation every 100 steps. About a third of the 16
trials sit above the stability threshold of the effective learning rate
lr / (1 - momentum); their training loss climbs back to ln(10) and their
validation error to chance, so they are recorded as `diverged` with reason
`collapsed` (early, unless --config.fixed.stop_collapsed=False), and the
instability finding reports the threshold (docs/VALIDITY.md lists the
measured numbers).
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_nesterov_stability",
        description="nesterov on MNIST-1D (MLP), constant lr, lr x momentum",
        baseline="../mnist1d_mlp.py",
        scientific={"optimizer": ["nesterov"]},
        nuisance={
            "learning_rate": hp.log(1e-3, 1.0),
            "momentum": hp.reverse_log(0.5, 0.999),
        },
        fixed={
            "schedule": "constant",
            "weight_decay": 0.0,
            "max_train_steps": 2000,
            "eval_every_steps": 100,
            # A collapsed trial stops early; False trains it to the end (full curves):
            # --config.fixed.stop_collapsed=False
            "stop_collapsed": True,
        },
        budget=16,
        metric="valid/error_rate",
    )
