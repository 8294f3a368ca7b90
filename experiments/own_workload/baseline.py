"""Baseline for the sine-regression workload of workload.py, a class outside the
playbook package, trained on playbook's loop. Run from the repository root,
where it imports as `experiments.own_workload.workload`.

    playbook train --config experiments/own_workload/baseline.py --workdir runs/sine
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config():
    c = config_lib.training_defaults()
    c.workload = "experiments.own_workload.workload:SineRegression"
    c.data = ConfigDict(dict(num_train=2048, num_valid=512, noise=0.1, seed=0))
    c.model = ConfigDict(dict(width=32, depth=2))
    c.optimizer = "adam"
    c.learning_rate = 3e-3
    c.batch_size = 64
    c.max_train_steps = 1000
    c.eval_every_steps = 250
    c.log_every_steps = 50
    c.metric = "valid/mse"  # minimized, as the workload's metric_goals say
    return c
