"""playbook.goal: the one interpretation of a metric's direction."""

import math

import numpy as np
import pytest

from playbook.errors import ConfigError
from playbook.goal import Goal, check, validation_metric


def test_minimize_and_maximize_orient_values_opposite_ways():
    low, high = Goal.of("minimize"), Goal.of("maximize")
    assert (low.sign, high.sign) == (1.0, -1.0)
    assert (low.loss(0.3), high.loss(0.3)) == (0.3, -0.3)
    assert (low.score(0.3), high.score(0.3)) == (-0.3, 0.3)
    assert low.score(math.nan) == high.score(None) == -math.inf
    assert (low.word, high.word, low.reaches, high.reaches) == ("lower", "higher", "<=", ">=")


def test_best_and_worst_skip_non_finite_values():
    values = [0.5, math.nan, 0.2, math.inf, 0.9]
    low, high = Goal.of("minimize"), Goal.of("maximize")
    assert (low.best(values), low.worst(values)) == (0.2, 0.9)
    assert (high.best(values), high.worst(values)) == (0.9, 0.2)
    assert math.isnan(low.best([math.nan])) and math.isnan(high.worst([math.nan, math.inf]))
    assert list(low.reached(np.array([0.1, 0.3]), 0.2)) == [True, False]
    assert list(high.reached(np.array([0.1, 0.3]), 0.2)) == [False, True]


def test_unknown_goal_is_refused_with_the_valid_ones():
    with pytest.raises(ConfigError, match="'goal' must be one of minimize, maximize.*mininize"):
        check("mininize")
    with pytest.raises(ConfigError, match="did you mean 'maximize'"):
        Goal.of("maximise")


def test_goal_from_a_metric_name():
    assert Goal.from_name("eval/top1_accuracy") == Goal("maximize")
    assert Goal.from_name("valid_loss") == Goal("minimize")
    assert Goal.from_name("throughput") is None
    assert Goal.from_name("loss_accuracy") is None  # says both


def test_validation_metric_names_the_valid_ones():
    goals = {"error_rate": "minimize", "accuracy": "maximize"}
    assert validation_metric("valid/accuracy", goals, "w") == Goal("maximize")
    with pytest.raises(ConfigError, match="valid metrics: valid/error_rate, valid/accuracy"):
        validation_metric("train/accuracy", goals, "w")
    with pytest.raises(ConfigError, match="did you mean 'valid/accuracy'"):
        validation_metric("valid/acuracy", goals, "w")
