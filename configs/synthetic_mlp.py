"""Tiny synthetic baseline for fast tests and smoke runs.

    playbook train --config configs/synthetic_mlp.py --workdir runs/synthetic
"""

from ml_collections import ConfigDict


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.workload = "synthetic"
    c.data = ConfigDict(dict(seed=0, num_classes=4, dim=8, num_train=512, num_valid=256,
                             num_test=256, noise=1.0))
    c.model = ConfigDict(dict(name="mlp", width=32, depth=2, activation="relu", dropout=0.0))
    c.optimizer = "adamw"
    c.learning_rate = 3e-3
    c.weight_decay = 0.0
    c.momentum = 0.9
    c.b1 = 0.9
    c.b2 = 0.999
    c.eps = 1e-8
    c.grad_clip_norm = 0.0
    c.schedule = "cosine"
    c.warmup_steps = 0
    c.warmup_fraction = 0.0
    c.lr_end_factor = 0.0
    c.batch_size = 32
    c.eval_batch_size = 0
    c.max_train_steps = 200
    c.eval_every_steps = 50
    c.log_every_steps = 25
    c.seed = 0
    c.metric = "valid/error_rate"
    c.checkpoint = ConfigDict(dict(keep_best=1))
    c.divergence_factor = 10.0
    return c
