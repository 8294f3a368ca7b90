"""The single wide, expensive study that the rounds are compared with: the same problem
and the same training length as the first round, every range a decade or more wider
on each side, and at least as many trials as all rounds together
(experiments/rounds/run.py sets the budget; docs/ROUNDS.md has the result).

    playbook study --config experiments/rounds/wide.py --workdir experiments/rounds/studies/wide \
        --config.budget=N
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_wide",
        description="AdamW on MNIST-1D (MLP): one wide study, learning rate and b1",
        baseline="../../configs/mnist1d_mlp.py",
        scientific={"optimizer": ["adamw"]},
        nuisance={
            "learning_rate": hp.log(1e-5, 1.0),
            "b1": hp.reverse_log(0.0, 0.99),
        },
        fixed={"max_train_steps": 8000, "eval_every_steps": 200, "log_every_steps": 100},
        budget=40,
        metric="valid/error_rate",
    )
