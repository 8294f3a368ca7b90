"""Code outside the repository that tests tune: toy trainers written into a temporary
directory, and copies of the example trainer and workload of experiments/."""

import math
import os
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[1]

TOY_TRAINERS = '''
import json
import math
import os


def curve(config):
    """Evaluation error decaying to a floor that is lowest at learning_rate 0.1."""
    floor = abs(math.log10(config.learning_rate / 0.1)) / 4
    return [{"step": s, "train_loss": 1.0 + floor + math.exp(-s / 20),
             "eval_error": floor + 0.5 * math.exp(-s / 20)}
            for s in range(10, config.num_steps + 1, 10)]


def returns_curves(config, workdir):
    return curve(config)


def returns_step_mapping(config, workdir):
    return {r["step"]: {k: v for k, v in r.items() if k != "step"} for r in curve(config)}


def writes_jsonl(config, workdir):
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        for record in curve(config):
            f.write(json.dumps(record) + "\\n")
    return None


def loss_turns_nan(config, workdir):
    records = curve(config)
    for record in records:
        if record["step"] >= 30:
            record["train_loss"] = float("nan")
    return records


def loss_explodes(config, workdir):
    records = curve(config)
    for record in records:
        if record["step"] >= 40:
            record["train_loss"] *= 50
    return records


def loss_collapses(config, workdir):
    records = curve(config)
    for record in records:
        if record["step"] >= 40:  # back above the first logged loss, and staying there
            record["train_loss"] = 1.7
    return records


def raises(config, workdir):
    raise RuntimeError("the data loader ran dry")


def logs_other_metrics(config, workdir):
    return [{"step": 10, "train_loss": 1.0, "valid_accuracy": 0.5}]


def one_parameter(config):
    return []


def keyword_only(*, config, workdir):
    return []


NOT_A_FUNCTION = 3
'''


def toy_curve(learning_rate: float, num_steps: int) -> dict[int, float]:
    """eval_error by step of the toy trainers, computed here independently."""
    floor = abs(math.log10(learning_rate / 0.1)) / 4
    return {s: floor + 0.5 * math.exp(-s / 20) for s in range(10, num_steps + 1, 10)}


TOY_BASELINE = '''
import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.trainer = {trainer!r}
    config.learning_rate = 0.1
    config.num_steps = {num_steps}
    config.metric = "eval_error"
    return config
'''

TOY_STUDY = '''
from playbook import search as hp
from playbook.study import define


def get_config():
    return define(baseline="baseline.py", scientific={{"num_steps": [40, 80]}},
                  nuisance={{"learning_rate": hp.log(0.01, 1.0)}}, budget={budget})
'''


def toy_project(directory: os.PathLike, trainer: str = "toytrain:returns_curves",
                num_steps: int = 60, budget: int = 2) -> pathlib.Path:
    """`directory` with toytrain.py, baseline.py (naming `trainer`) and study.py."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "toytrain.py").write_text(TOY_TRAINERS)
    (directory / "baseline.py").write_text(TOY_BASELINE.format(trainer=trainer,
                                                                num_steps=num_steps))
    (directory / "study.py").write_text(TOY_STUDY.format(budget=budget))
    return directory


SPIRALS_BASELINE = '''
import os

from playbook import config as config_lib


def get_config():
    config = config_lib.load(os.path.join(os.path.dirname(__file__), "configs", "default.py"))
    config.trainer = "train:train_and_evaluate"
    config.metric = "eval_accuracy"
    config.num_train_steps = 40
    config.log_every_steps = 10
    config.eval_every_steps = 20
    return config
'''

SPIRALS_STUDY = '''
from playbook import search as hp
from playbook.study import define


def get_config():
    return define(baseline="playbook_baseline.py", scientific={"width": [8, 32]},
                  nuisance={"learning_rate": hp.log(0.03, 0.3)}, budget=1)
'''


def spirals_project(directory: os.PathLike) -> pathlib.Path:
    """A copy of experiments/own_trainer's train.py and configs/default.py, unchanged,
    with a playbook baseline and a study beside them."""
    directory = pathlib.Path(directory)
    (directory / "configs").mkdir(parents=True)
    source = ROOT / "experiments" / "own_trainer"
    shutil.copy(source / "train.py", directory / "train.py")
    shutil.copy(source / "configs" / "default.py", directory / "configs" / "default.py")
    (directory / "playbook_baseline.py").write_text(SPIRALS_BASELINE)
    (directory / "study.py").write_text(SPIRALS_STUDY)
    return directory


SINE_BASELINE = '''
from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config():
    c = config_lib.training_defaults()
    c.workload = "sine:SineRegression"
    c.data = ConfigDict(dict(num_train=256, num_valid=128, noise=0.1, seed=0))
    c.model = ConfigDict(dict(width=16, depth=1))
    c.optimizer = "adam"
    c.batch_size = 32
    c.max_train_steps = 1000
    c.eval_every_steps = 250
    c.log_every_steps = 50
    c.metric = "valid/mse"
    return c
'''

SINE_STUDY = '''
from playbook import search as hp
from playbook.study import define


def get_config():
    return define(baseline="baseline.py", scientific={"model.depth": [1, 2]},
                  nuisance={"learning_rate": hp.log(1e-3, 3e-2)}, budget={budget})
'''


def sine_project(directory: os.PathLike, budget: int = 1) -> pathlib.Path:
    """experiments/own_workload/workload.py copied as sine.py, with a baseline and a study."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "experiments" / "own_workload" / "workload.py", directory / "sine.py")
    (directory / "baseline.py").write_text(SINE_BASELINE)
    (directory / "study.py").write_text(SINE_STUDY.replace("{budget}", str(budget)))
    return directory


LENGTH_TRAINER = '''
import math


def train_and_evaluate(config, workdir):
    """eval_error still falling at the last step (a compute-bound run), lowest at
    learning_rate 0.1; the run's length is config.{key}, logged every log_every_steps."""
    floor = (abs(math.log10(config.learning_rate / 0.1)) / 4 + 0.01 * config.width
             - 0.001 * config.seed)  # a seed rerun scores a little better
    every = config.log_every_steps
    return [{{"step": s, "train_loss": 1.0 + floor + math.exp(-s / 30),
              "eval_error": floor + 0.5 * math.exp(-s / 30)}}
            for s in range(every, config.{key} + 1, every)]
'''

LENGTH_BASELINE = '''
import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.trainer = "lengthtrain:train_and_evaluate"
    config.metric = "eval_error"
    config.learning_rate = 0.1
    config.width = 1
    config.seed = 0
    config.{key} = 50
    config.log_every_steps = 10
{declared}    return config
'''

LENGTH_STUDY = '''
from playbook import search as hp
from playbook.study import define


def get_config():
    return define(baseline="baseline.py", scientific={"width": [1, 2]},
                  nuisance={"learning_rate": hp.log(0.01, 1.0)}, budget=2)
'''


def length_project(directory: os.PathLike, key: str = "num_train_steps",
                   declared: str | None = None) -> pathlib.Path:
    """A pure-Python trainer (lengthtrain.py) whose length is the config's `key`, with a
    baseline (declaring `length_key = declared` when given) and a study of two widths."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "lengthtrain.py").write_text(LENGTH_TRAINER.format(key=key))
    line = f"    config.length_key = {declared!r}\n" if declared is not None else ""
    (directory / "baseline.py").write_text(LENGTH_BASELINE.format(key=key, declared=line))
    (directory / "study.py").write_text(LENGTH_STUDY)
    return directory
