"""The two-spirals trainer of train.py over a learning-rate range that reaches rates at
which it stays at chance: the baseline declares the metric's chance level
(`metric_chance = 0.5`, a balanced two-class accuracy), the one thing playbook cannot
know of a trainer's data, so such trials are recorded `diverged: at_chance`.

    playbook study --config experiments/own_trainer/study_wide.py --workdir runs/spirals_wide

Run from the repository root. 16 trials of 600 steps, about a minute on 2 CPU cores.
Without `metric_chance` the findings say that the chance level is unknown.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        baseline="baseline.py",
        scientific={"width": [16, 64]},
        nuisance={"learning_rate": hp.log(1e-4, 30.0)},
        fixed={"num_train_steps": 600, "momentum": 0.9},
        budget=8,
        metric="eval_accuracy",
    )
