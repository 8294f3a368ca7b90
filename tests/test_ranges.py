"""The next round's range of a hyperparameter whose best trials sit at an edge: one
decade (of x, or of 1 - x), half the width, or nothing at a natural limit."""

import pytest

from playbook import search as hp
from playbook.analysis import ranges


@pytest.mark.parametrize("key, spec, side, new", [
    ("learning_rate", hp.log(1e-3, 1.0), "high", (1e-3, 10.0)),
    ("learning_rate", hp.log(1e-3, 1.0), "low", (1e-4, 1.0)),
    ("momentum", hp.reverse_log(0.5, 0.999), "high", (0.5, 0.9999)),
    ("momentum", hp.reverse_log(0.5, 0.999), "low", (0.0, 0.999)),    # stops at the limit
    ("momentum", hp.reverse_log(0.9, 0.99), "low", (0.0, 0.99)),      # 1 - 0.1 * 10 = 0
    ("eps", hp.log(1e-10, 10.0), "low", (1e-11, 10.0)),               # 0 is decades away
    ("model.dropout", hp.linear(0.5, 0.9), "high", (0.5, 0.95)),      # halfway to open 1
    ("model.width", hp.int_range(16, 64), "high", (16, 88)),
])
def test_a_range_widens_by_one_step_of_its_scale(key, spec, side, new):
    proposal = ranges.propose(key, spec, side)
    assert not proposal.at_limit and proposal.new_range == pytest.approx(new)


@pytest.mark.parametrize("key, spec", [
    ("momentum", hp.reverse_log(0.0, 0.999)),
    ("b1", hp.reverse_log(1e-4, 0.999)),     # 1e-4 is 0.001% of the reverse_log width from 0
    ("model.dropout", hp.linear(0.0, 0.5)),
    ("weight_decay", hp.linear(0.0, 1e-3)),
])
def test_a_low_edge_at_a_natural_limit_proposes_nothing(key, spec):
    proposal = ranges.propose(key, spec, "low")
    assert proposal.at_limit and proposal.limit == 0.0 and proposal.new_range is None


def test_a_key_without_known_limits_always_widens():
    assert ranges.propose("data.noise", hp.linear(0.5, 1.0), "low").new_range == (0.25, 1.0)


def test_a_count_never_goes_below_one():
    assert ranges.propose("model.depth", hp.int_range(1, 4), "low").at_limit
    assert ranges.propose("model.width", hp.int_range(16, 64), "low").new_range == (1, 64)
