"""Does a deeper MLP fit the sine wave better, once each depth's learning rate is
tuned? A study over a workload class of your own (workload.py), trained on
playbook's loop.

    playbook study --config experiments/own_workload/study.py --workdir runs/own_workload

Run from the repository root. 12 trials of 1000 steps, about 30 s on 2 CPU
cores (measured: 10 s of CPU time; best valid/mse 0.060 at depth 1 and 0.0095 at
depth 3, near the noise's 0.01). Add --trials_per_program 3 to train the trials
of one depth together.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        baseline="baseline.py",
        scientific={"model.depth": [1, 3]},
        nuisance={"learning_rate": hp.log(1e-3, 3e-2)},
        fixed={"max_train_steps": 1000},
        budget=6,
    )
