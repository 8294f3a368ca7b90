"""scikit-learn's digits with plain SGD and gradient clipping over a learning-rate range
that reaches rates too large to learn: clipped steps stay finite, so those trials
never diverge numerically; they end at chance (about 0.9 error) with noisy losses
that dip just under the chance loss. Seconds per trial on 2 CPU cores.

    playbook study --config configs/studies/digits_sgd_clipping.py \\
        --workdir runs/digits_sgd_clipping

Such trials are recorded `diverged: at_chance` (playbook.train.collapse), and the
instability finding names the highest learning rate that trained, not one of
them (docs/VALIDITY.md section 1).
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        baseline="../digits_mlp.py",
        scientific={"model.width": [64, 256]},
        nuisance={"learning_rate": hp.log(1e-3, 30.0)},
        fixed={"optimizer": "sgd", "grad_clip_norm": 1.0, "schedule": "constant",
               "weight_decay": 0.0, "max_train_steps": 1000, "eval_every_steps": 100,
               "log_every_steps": 25},
        budget=8,
    )
