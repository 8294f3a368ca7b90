"""A deliberately poor first round on MNIST-1D (MLP, AdamW): the learning-rate range ends
a decade below where AdamW trains this model well, and max_train_steps is far longer
than the MLP needs (without weight decay it fits the training set within a few hundred
steps at a good learning rate and overfits after). Adam's b1 is searched too. Later
rounds are drafted by `playbook next` (experiments/rounds/run.py); docs/ROUNDS.md
records what each round found.

    python experiments/rounds/run.py
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_rounds",
        description="AdamW on MNIST-1D (MLP): learning rate and b1, a poor first round",
        baseline="../../configs/mnist1d_mlp.py",
        scientific={"optimizer": ["adamw"]},
        nuisance={
            "learning_rate": hp.log(3e-5, 3e-4),
            "b1": hp.reverse_log(0.5, 0.95),
        },
        fixed={"max_train_steps": 8000, "eval_every_steps": 200, "log_every_steps": 100},
        budget=10,
        metric="valid/error_rate",
    )
