"""Tiny synthetic baseline for fast tests and smoke runs.

    playbook train --config configs/synthetic_mlp.py --workdir runs/synthetic
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config() -> ConfigDict:
    c = config_lib.training_defaults()
    c.workload = "synthetic"
    c.data = ConfigDict(dict(seed=0, num_classes=4, dim=8, num_train=512, num_valid=256,
                             num_test=256, noise=1.0))
    c.model = ConfigDict(dict(name="mlp", width=32, depth=2, activation="relu", dropout=0.0))
    c.batch_size = 32
    c.max_train_steps = 200
    c.eval_every_steps = 50
    c.log_every_steps = 25
    return c
