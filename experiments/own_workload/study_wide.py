"""The sine-regression workload of workload.py over a learning-rate range wide enough
to reach rates that learn nothing in 1000 steps and rates that fail: what the chance
rule sees on a regression metric (`valid/mse`, whose chance level the workload
declares in `chance_levels`: the targets' variance about the training mean).

    playbook study --config experiments/own_workload/study_wide.py --workdir runs/sine_wide

Run from the repository root. 16 trials of 1000 steps, under a minute on 2 CPU cores.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        baseline="baseline.py",
        scientific={"model.depth": [1, 3]},
        nuisance={"learning_rate": hp.log(1e-5, 3.0)},
        fixed={"max_train_steps": 1000, "eval_every_steps": 100},
        budget=8,
    )
