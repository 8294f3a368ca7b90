"""Collapsed trials: a training loss back at chance level ends a trial as `diverged`
with reason `collapsed`, alone and in a vmapped group, early unless turned off; a
slow start or a spike that recovers is not a collapse. Real MNIST-1D runs at a
learning rate that collapses (docs/VALIDITY.md has the full study)."""

import json
import math
import os

import numpy as np
import pytest

from configs import digits_mlp, mnist1d_mlp
from playbook import config as config_lib
from playbook import workloads
from playbook.errors import ConfigError
from playbook.train import batched, collapse, loop
from playbook.trial_files import TrialResult
from playbook.workloads.base import Split

STEPS = 600


def _config(learning_rate, momentum=0.9964, **extra):
    """MNIST-1D MLP, Nesterov, constant schedule: lr 0.0966 at momentum 0.9964 (effective
    lr 27) learns for ~150 steps, then its training loss climbs back to ln 10 and stays."""
    return config_lib.with_values(mnist1d_mlp.get_config(), dict(
        optimizer="nesterov", schedule="constant", weight_decay=0.0, learning_rate=learning_rate,
        momentum=momentum, max_train_steps=STEPS, eval_every_steps=100, log_every_steps=25,
        **extra))


def _losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return np.array([r["train/loss"] for r in records if "train/loss" in r])


@pytest.fixture(scope="module")
def collapsed_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("collapsed")
    return loop.train_and_evaluate(_config(0.0966), workdir, progress=False), str(workdir)


def test_a_trial_back_at_chance_is_diverged_collapsed_and_stops_early(collapsed_run):
    result, workdir = collapsed_run
    losses = _losses(workdir)
    assert (result.status, result.reason) == ("diverged", "collapsed")
    assert result.steps < STEPS and result.steps == 25 * len(losses)
    assert result.objective is None  # infeasible: its early best checkpoint ranks nowhere
    assert losses.min() < 0.9 * math.log(10)  # it had learned
    # The last WINDOW of training (>= MIN_POINTS log intervals) sat within 2% of ln 10.
    last = losses[-max(collapse.MIN_POINTS, int(collapse.WINDOW * STEPS / 25)):]
    assert np.all(last >= 0.98 * math.log(10))
    stored = TrialResult.from_json(open(os.path.join(workdir, "result.json")).read())
    assert (stored.reason, stored.steps) == ("collapsed", result.steps)


def test_without_the_early_stop_a_collapsed_trial_trains_to_the_end(tmp_path):
    result = loop.train_and_evaluate(_config(0.0966, stop_collapsed=False), tmp_path,
                                     progress=False)
    assert (result.status, result.reason, result.steps) == ("diverged", "collapsed", STEPS)
    assert result.final["valid/error_rate"] > 0.85


def test_a_collapsing_member_of_a_group_is_recorded_like_a_lone_trial(tmp_path, collapsed_run):
    alone, _ = collapsed_run
    configs = [_config(0.0966), _config(0.0047, momentum=0.9972)]  # the second trains well
    results = batched.train_group(configs, [tmp_path / "a", tmp_path / "b"])
    assert (results[0].status, results[0].reason, results[0].steps) == (
        "diverged", "collapsed", alone.steps)
    assert results[1].status == "done" and results[1].reason is None
    assert results[1].objective < 0.6


def test_a_real_trial_that_never_leaves_chance_is_at_chance_and_says_so(tmp_path):
    # Digits, SGD with clipping at learning rate 3.5: clipped steps stay finite, the loss
    # never goes below the chance loss and the error sits at 0.86-0.93 (configs/studies/
    # digits_sgd_clipping.py). At 0.16 the same model learns (0.06 error).
    def digits(lr):
        return config_lib.with_values(digits_mlp.get_config(), dict(
            optimizer="sgd", grad_clip_norm=1.0, schedule="constant", weight_decay=0.0,
            learning_rate=lr, max_train_steps=400, eval_every_steps=100, log_every_steps=25))

    dead = loop.train_and_evaluate(digits(3.5), tmp_path / "dead", progress=False)
    assert (dead.status, dead.reason, dead.steps) == ("diverged", "at_chance", 400)
    labels = np.asarray(workloads.get("digits").load(digits_mlp.get_config()).train.labels)
    frequencies = np.bincount(labels, minlength=10) / len(labels)
    assert dead.chance == pytest.approx(1 - frequencies.max())  # the training labels' chance
    assert dead.objective is None and dead.final["valid/error_rate"] > 0.85
    alive = loop.train_and_evaluate(digits(0.16), tmp_path / "alive", progress=False)
    assert (alive.status, alive.reason) == ("done", None) and alive.objective < 0.15


MNIST1D = collapse.ChanceLevel("valid/error_rate", 0.9, "minimize", 0.045, "labels")


def test_a_spike_that_recovers_is_not_a_collapse():
    # Trial 0003 of the MNIST-1D stability study (lr 0.353, momentum 0.82): spiky, never
    # at chance; then a loss that sits at chance for less than the window and recovers.
    watch = collapse.Watch(2000, chance=math.log(10))
    spiky = [1.74, 0.76, 0.40, 0.22, 0.13, 0.20, 0.19, 0.23, 0.34, 0.17, 0.14, 0.20, 0.28]
    spike = [2.31, 2.35, 2.30, 1.10, 0.60, 0.40]  # 150 steps at chance, window is 200
    for i, loss in enumerate(spiky + spike):
        watch.note(50 * (i + 1), loss)
        assert not watch.collapsed_now()
    assert watch.verdict(MNIST1D, [0.35, 0.34, 0.33]) is None


def test_a_slow_start_is_never_stopped_and_is_done_when_it_ends_better_than_chance():
    watch = collapse.Watch(1000, chance=math.log(10))
    for step in range(50, 1001, 50):
        watch.note(step, 2.30)  # just below ln 10 = 2.3026: barely learning
        assert not watch.collapsed_now()
    assert watch.verdict(MNIST1D, [0.82, 0.80, 0.78]) is None  # 0.80 < 0.855: it learned
    # Ending at chance error, whatever came before, it is at chance: no value.
    assert watch.verdict(MNIST1D, [0.88, 0.9, 0.89]) == "at_chance"


def test_a_noisy_dip_below_chance_is_not_learning():
    # Digits, SGD with clipping at lr 2.49: the logged loss dipped to 2.207 (4% under the
    # chance loss 2.3017) for three intervals and ended at 2.39, valid error 0.897.
    watch = collapse.Watch(1000, chance=2.3017)
    losses = [2.35, 2.207, 2.21, 2.209, 2.33, 2.40, 2.38, 2.39, 2.41, 2.39]
    for step, loss in zip(range(100, 1001, 100), losses):
        watch.note(step, loss)
    assert not watch.learned
    digits = collapse.chance_level("valid/error_rate", "minimize",
                                   frequencies=np.full(10, 0.1), num_valid=360)
    assert watch.verdict(digits, [0.90, 0.88, 0.897]) == "at_chance"
    # One interval 10% under chance, among noise, is not learning either.
    watch = collapse.Watch(1000, chance=2.3017)
    for step, loss in zip(range(100, 1001, 100), [2.3, 2.05, 2.3, 2.31, 2.3, 2.3]):
        watch.note(step, loss)
    assert not watch.learned


def test_a_single_noisy_evaluation_below_the_margin_does_not_end_a_trial_at_chance():
    # The median of the last three evaluations is where the trial ended.
    watch = collapse.Watch(1000, chance=math.log(10))
    for step in range(50, 1001, 50):
        watch.note(step, 2.31)
    assert watch.verdict(MNIST1D, [0.90, 0.89, 0.84]) == "at_chance"
    assert watch.verdict(MNIST1D, [0.84, 0.83, 0.90]) is None


def test_evaluations_that_swing_around_a_declared_chance_level_are_at_chance():
    # The two-spirals trainer at learning rate 21.6 (experiments/own_trainer/study_wide.py):
    # its validation split's majority class is 54.5%, the declared chance level 0.5; the
    # evaluations swing between the two classes' shares. The margin takes their spread.
    spirals = collapse.chance_level("eval_accuracy", "maximize", declared=0.5)
    watch = collapse.Watch(600)
    assert watch.verdict(spirals, [0.545, 0.455, 0.545]) == "at_chance"
    assert watch.verdict(spirals, [0.783, 0.836, 0.875]) is None  # noisy, but learning
    assert watch.verdict(spirals, [0.57, 0.578, 0.58]) is None  # slow, steady: learning


def test_a_trial_never_better_than_chance_is_at_chance_at_the_end_only():
    # Trial 0008 of the wide-range study (Nesterov, lr 0.50, momentum 0.985): its
    # training loss never went below ln 10 (minimum 2.313), final error 0.886.
    watch = collapse.Watch(2000, chance=math.log(10))
    for step in range(50, 2001, 50):
        watch.note(step, 2.313 + 0.01 * (step % 3))
        assert not watch.collapsed_now()
    assert watch.verdict(MNIST1D, [0.886]) == "at_chance"
    assert watch.verdict(MNIST1D, [0.5]) is None


def test_a_trial_that_learned_and_ends_at_chance_error_is_collapsed():
    watch = collapse.Watch(1000, chance=math.log(10))
    for step, loss in zip(range(50, 1001, 50), np.linspace(1.6, 2.19, 20)):
        watch.note(step, loss)  # trial 0011: learned (1.6), then climbing back slowly
    assert not watch.collapsed_now()
    assert watch.verdict(MNIST1D, [0.62]) is None
    assert watch.verdict(MNIST1D, [0.876]) == "collapsed"


def test_chance_levels_of_every_kind_of_metric():
    freq = np.array([0.7, 0.1, 0.1, 0.1])
    error = collapse.chance_level("valid/error_rate", "minimize", frequencies=freq)
    accuracy = collapse.chance_level("valid/accuracy", "maximize", frequencies=freq)
    loss = collapse.chance_level("valid/loss", "minimize", frequencies=freq)
    assert (error.value, accuracy.value) == (pytest.approx(0.3), pytest.approx(0.7))
    assert loss.value == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.1)))
    assert error.at_chance(0.29) and error.at_chance(0.286) and not error.at_chance(0.28)
    assert accuracy.at_chance(0.71) and not accuracy.at_chance(0.72)
    assert loss.at_chance(0.985 * loss.value) and not loss.at_chance(0.97 * loss.value)
    # Three binomial standard errors on a small validation split widen a rate's margin.
    small = collapse.chance_level("valid/error_rate", "minimize", frequencies=freq,
                                  num_valid=100)
    assert small.margin == pytest.approx(3 * math.sqrt(0.3 * 0.7 / 100))
    # Declared and workload levels come first; a metric without a known level has none.
    mse = collapse.chance_level("valid/mse", "minimize", workload={"mse": 0.5})
    assert (mse.value, mse.source, mse.margin) == (0.5, "workload", pytest.approx(0.025))
    declared = collapse.chance_level("eval_accuracy", "maximize", declared=0.5,
                                     workload={"eval_accuracy": 0.1})
    assert (declared.value, declared.source) == (0.5, "declared")
    assert declared.at_chance(0.52) and not declared.at_chance(0.53)
    assert collapse.chance_level("valid/mse", "minimize", frequencies=freq) is None


@pytest.mark.parametrize("value", ["0.5", float("nan"), True])
def test_a_declared_chance_level_must_be_a_finite_number(value):
    with pytest.raises(ConfigError, match="metric_chance must be a finite number"):
        collapse.declared(value)


def test_chance_levels_are_those_of_the_best_constant_prediction():
    balanced = Split(np.zeros((40, 1)), np.repeat(np.arange(4), 10).astype(np.int32))
    loss, error = collapse.chance_levels(collapse.class_frequencies(balanced, 4))
    assert loss == pytest.approx(math.log(4)) and error == pytest.approx(0.75)
    skewed = Split(np.zeros((10, 1)), np.array([0] * 7 + [1] * 3, np.int32))
    loss, error = collapse.chance_levels(collapse.class_frequencies(skewed, 2))
    assert loss == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.3)))
    assert error == pytest.approx(0.3)
    regression = Split(np.zeros((3, 1)), np.array([0.5, 1.0, 2.0], np.float32))
    assert collapse.class_frequencies(regression, 0) is None


def test_a_split_read_on_demand_is_sampled_or_taken_as_balanced():
    class Column:  # labels read on demand, like playbook.data.records
        def __init__(self, labels):
            self.values, self.shape = labels, labels.shape
            self.reads = 0

        def __getitem__(self, idx):
            self.reads += len(idx)
            return self.values[idx]

    class Records:
        def __init__(self, labels):
            self.labels = Column(labels)

        def __len__(self):
            return len(self.labels.values)

    tokens = Records(np.random.default_rng(0).choice(4, size=(1000, 64), p=[0.7, 0.1, 0.1, 0.1]))
    frequencies = collapse.class_frequencies(tokens, 4)
    assert tokens.labels.reads == collapse.LABEL_SAMPLE
    assert frequencies == pytest.approx([0.7, 0.1, 0.1, 0.1], abs=0.01)
    images = Records(np.zeros((5000,), np.int64))  # 256 labels could not describe 1000 classes
    assert collapse.class_frequencies(images, 1000) == pytest.approx(np.full(1000, 1e-3))
    assert images.labels.reads == 0


def test_a_run_of_fewer_than_three_log_intervals_is_never_judged():
    watch = collapse.Watch(10, chance=math.log(10))
    watch.note(5, 2.3)
    watch.note(10, 2.3)  # ends at chance error: but two intervals only
    assert watch.verdict(MNIST1D, [0.9]) is None
    watch.note(15, 2.3)
    assert watch.verdict(MNIST1D, [0.9]) == "at_chance"
