"""The playbook's learning-rate sweep for a first max_train_steps on MNIST-1D.

    playbook study --config configs/studies/mnist1d_lr_sweep.py --workdir runs/mnist1d_lr_sweep
    playbook max-train-steps runs/mnist1d_lr_sweep --goal 0.01

Playbook ("Deciding how long to train when training is not compute-bound"):
sweep the learning rate with a constant schedule and without regularisation;
the number of steps the fastest trial needs to fit the training set is the
first guess for max_train_steps. Scientific: the optimizer (one value, the one
the next studies will use). Nuisance: the learning rate alone, spread over
three decades by the quasi-random designer. Fixed: constant schedule, no
weight decay or dropout, 2000 steps (long enough that the fastest trials fit),
the training loss logged every 20 steps.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_lr_sweep",
        description="constant-lr sweep (AdamW, no regularisation) to choose max_train_steps",
        baseline="../mnist1d_mlp.py",
        scientific={"optimizer": ["adamw"]},
        nuisance={"learning_rate": hp.log(1e-4, 1e-1)},
        fixed={
            "schedule": "constant",
            "weight_decay": 0.0,
            "model.dropout": 0.0,
            "max_train_steps": 2000,
            "eval_every_steps": 100,
            "log_every_steps": 20,
        },
        budget=8,
        metric="valid/error_rate",
    )
