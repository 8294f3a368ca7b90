"""scikit-learn's 8x8 digits with an MLP: a tiny real-data baseline.

    playbook train --config configs/digits_mlp.py --workdir runs/digits_mlp

Data: 1137 train / 300 validation (carved by data.seed) / 360 fixed test
examples, shipped with scikit-learn (no download).
Measured on 2 CPU cores: best valid error 0.027 at step 1000 of 1000, 7.2 s, ~2500 steps/s.
"""

from ml_collections import ConfigDict


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.workload = "digits"
    c.data = ConfigDict(dict(seed=0, num_valid=300))
    c.model = ConfigDict(dict(name="mlp", width=128, depth=2, activation="relu", dropout=0.0))
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
    c.batch_size = 64
    c.eval_batch_size = 0
    c.max_train_steps = 1000
    c.eval_every_steps = 250
    c.log_every_steps = 50
    c.seed = 0
    c.metric = "valid/error_rate"
    c.checkpoint = ConfigDict(dict(keep_best=1))
    c.divergence_factor = 10.0
    return c
