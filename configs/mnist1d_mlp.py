"""MNIST-1D with an MLP: the baseline a 1-D CNN should beat by a wide margin.

    playbook train --config configs/mnist1d_mlp.py --workdir runs/mnist1d_mlp

Data: 3500 train / 500 validation (carved by data.seed) / 1000 test, generated
offline and cached on first use (~3 s). The MLP fits the training set within a
few hundred steps and then overfits; weight decay and dropout are the natural
nuisance (or scientific) hyperparameters to study.
Measured on 2 CPU cores: best valid error 0.352 at step 1000 of 2000 (it overfits
after), 8.6-11.6 s, ~800-870 steps/s.
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config() -> ConfigDict:
    c = config_lib.training_defaults()
    c.workload = "mnist1d"
    c.data = ConfigDict(dict(seed=0, num_valid=500))
    c.model = ConfigDict(dict(name="mlp", width=256, depth=2, activation="relu", dropout=0.0))
    c.max_train_steps = 2000
    return c
