"""A first tuning round whose max_train_steps comes from the learning-rate sweep
(configs/studies/mnist1d_lr_sweep.py), checked by where its best checkpoints land.

    playbook max-train-steps runs/mnist1d_lr_sweep --goal 0.01   # suggests N
    playbook study --config configs/studies/mnist1d_first_round.py \
        --workdir runs/mnist1d_first_round --config.fixed.max_train_steps=N

Playbook: fix max_train_steps for the whole study (never tune it), use a
decaying schedule (cosine, from the baseline), select checkpoints
retrospectively, then read where the best checkpoints landed: always in the
first 10% means too many steps, consistently in the last 25% means train
longer and re-tune the decay (`playbook report` says which). Nuisance: AdamW's
learning rate and weight decay; evaluation every 5% of training.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_first_round",
        description="AdamW on MNIST-1D (MLP) with max_train_steps from the lr sweep",
        baseline="../mnist1d_mlp.py",
        scientific={"optimizer": ["adamw"]},
        nuisance={
            "learning_rate": hp.log(1e-4, 3e-2),
            "weight_decay": hp.log(1e-6, 1e-2),
        },
        fixed={"max_train_steps": 400, "eval_every_steps": 20, "log_every_steps": 20},
        budget=10,
        metric="valid/error_rate",
    )
