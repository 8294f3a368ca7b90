"""playbook's baseline for train.py: the trainer's own default config, plus the
function to call, the metric that selects trials (goal read from its name:
an accuracy is maximized) and that metric's value at chance. Run from the repository root, where the trainer
imports as `experiments.own_trainer.train`.
"""

import os

from playbook import config as config_lib


def get_config():
    config = config_lib.load(os.path.join(os.path.dirname(__file__), "configs", "default.py"))
    config.trainer = "experiments.own_trainer.train:train_and_evaluate"
    config.metric = "eval_accuracy"
    # The metric's value at chance (two balanced classes): playbook cannot see the
    # trainer's data, so without it a trial that learned nothing would rank as a result.
    config.metric_chance = 0.5
    return config
