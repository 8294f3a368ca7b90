"""Hyperparameter specs: scales, conversions, conditions and malformed ranges."""

import math

import numpy as np
import pytest

from playbook import search as hp
from playbook.errors import ConfigError

U = np.linspace(0.0, 1.0, 101)


def test_linear_scale_maps_unit_interval_onto_range():
    spec = hp.linear(-2.0, 6.0)
    assert spec.from_unit(0.0) == -2.0
    assert spec.from_unit(1.0) == 6.0
    assert spec.from_unit(0.25) == pytest.approx(0.0)


def test_log_scale_is_uniform_in_log_space():
    spec = hp.log(1e-4, 1e-1)
    values = np.array([spec.from_unit(u) for u in U])
    assert values[0] == pytest.approx(1e-4)
    assert values[-1] == pytest.approx(1e-1)
    steps = np.diff(np.log10(values))
    np.testing.assert_allclose(steps, 3.0 / 100, rtol=1e-9)
    assert spec.from_unit(0.5) == pytest.approx(math.sqrt(1e-4 * 1e-1))


def test_reverse_log_scale_concentrates_near_one():
    spec = hp.reverse_log(0.9, 0.999)
    values = np.array([spec.from_unit(u) for u in U])
    assert values[0] == pytest.approx(0.9)
    assert values[-1] == pytest.approx(0.999)
    assert np.all(np.diff(values) > 0)
    # 1 - x is log-uniform: each half of the interval covers one decade of 1 - x.
    assert spec.from_unit(0.5) == pytest.approx(0.99)
    np.testing.assert_allclose(np.diff(np.log10(1 - values)), -2.0 / 100, rtol=1e-9)
    # Half of the points lie above 0.99, which is 9% of the linear range.
    assert np.mean(values > 0.99) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("spec", [hp.linear(0.5, 3.0), hp.log(1e-5, 10.0),
                                  hp.reverse_log(0.5, 0.9999)])
def test_float_to_unit_inverts_from_unit(spec):
    for u in U:
        assert spec.to_unit(spec.from_unit(u)) == pytest.approx(u, abs=1e-9)


def test_int_linear_gives_every_integer_an_equal_share():
    spec = hp.int_range(1, 4)
    values = [spec.from_unit(u) for u in np.linspace(0, 1, 4000, endpoint=False)]
    counts = np.bincount(values)[1:]
    np.testing.assert_array_equal(counts, [1000, 1000, 1000, 1000])
    assert spec.from_unit(1.0) == 4


def test_int_log_is_denser_at_small_values():
    spec = hp.int_range(1, 1024, scale="log")
    values = np.array([spec.from_unit(u) for u in np.linspace(0, 1, 1001)])
    assert values.min() == 1 and values.max() == 1024
    assert np.median(values) == pytest.approx(32, rel=0.1)


def test_choice_and_discrete_split_unit_interval_evenly():
    spec = hp.choice(["relu", "gelu", "tanh"])
    assert [spec.from_unit(u) for u in (0.0, 0.34, 0.67, 1.0)] == ["relu", "gelu", "tanh", "tanh"]
    assert spec.from_unit(spec.to_unit("gelu")) == "gelu"
    disc = hp.discrete([10, 100, 1000])
    assert disc.from_unit(0.5) == 100


@pytest.mark.parametrize("spec, message", [
    (hp.linear(1.0, 1.0), "range of 'x' is empty: [1.0, 1.0]"),
    (hp.linear(2.0, 1.0), "range of 'x' is inverted: [2.0, 1.0]"),
    (hp.log(0.0, 1.0), "log range of 'x' must be > 0"),
    (hp.log(-1.0, 1.0), "log range of 'x' must be > 0"),
    (hp.reverse_log(0.9, 1.0), "reverse_log range of 'x' must stay below 1"),
    (hp.float_range(0.1, 1.0, scale="exp"), "valid scales: linear, log, reverse_log"),
    (hp.int_range(1, 2.5), "non-integer bound 2.5"),
    (hp.choice([]), "'x' lists no values"),
    (hp.discrete([1, 1]), "'x' lists a value twice"),
    (hp.discrete(["a"]), "must be numbers"),
])
def test_malformed_ranges_are_config_errors_naming_the_key(spec, message):
    with pytest.raises(ConfigError) as e:
        spec.check("x")
    assert message in str(e.value)


@pytest.mark.parametrize("spec, way_out, code", [
    (hp.log(0.0, 0.1), "use hp.linear(0.0, 0.1) or a positive low bound such as 0.0001",
     "hp.linear(0.0, 0.1)"),
    (hp.int_range(0, 64, "log"), "use hp.int_range(0, 64) or a positive low bound",
     "hp.int_range(0, 64)"),
    (hp.reverse_log(0.9, 1.0), "use a high bound such as 0.999, or hp.linear(0.9, 1.0)",
     "hp.linear(0.9, 1.0)"),
], ids=["log", "int_log", "reverse_log"])
def test_a_range_its_scale_refuses_names_the_linear_spec_as_a_study_writes_it(spec, way_out,
                                                                              code):
    """The way out is code that runs: hp.log and hp.reverse_log take no `scale=`."""
    with pytest.raises(ConfigError) as e:
        spec.check("learning_rate")
    assert way_out in str(e.value) and "scale=" not in str(e.value)
    eval(code, {"hp": hp}).check("learning_rate")  # the suggestion is a valid spec


def test_conditional_spec_is_active_only_for_listed_values():
    spec = hp.reverse_log(0.8, 0.99, when={"optimizer": ["nesterov", "momentum"]})
    assert spec.active({"optimizer": "nesterov"})
    assert spec.active({"optimizer": "momentum"})
    assert not spec.active({"optimizer": "adamw"})
    assert not spec.active({})


def test_branches_namespace_ranges_per_value_and_share_a_coordinate():
    space = {"learning_rate": hp.branches("optimizer", {"nesterov": hp.log(1e-2, 1.0),
                                                        "adamw": hp.log(1e-5, 1e-3)})}
    dims = hp.dimensions(space)
    assert len(dims) == 1
    nesterov = hp.assign(dims, [0.5], {"optimizer": "nesterov"})
    adamw = hp.assign(dims, [0.5], {"optimizer": "adamw"})
    assert nesterov["learning_rate"] == pytest.approx(0.1)
    assert adamw["learning_rate"] == pytest.approx(1e-4)
    assert hp.assign(dims, [0.5], {"optimizer": "sgd"}) == {}


def test_condition_on_another_nuisance_choice_is_resolved_after_it():
    space = {"momentum": hp.linear(0.0, 0.9, when={"optimizer": "momentum"}),
             "optimizer": hp.choice(["sgd", "momentum"])}
    dims = hp.dimensions(space)
    assert [d.key for d in dims] == ["optimizer", "momentum"]
    assert hp.assign(dims, [0.9, 0.5], {"optimizer": "adam"}) == {
        "optimizer": "momentum", "momentum": pytest.approx(0.45)}
    assert hp.assign(dims, [0.1, 0.5], {}) == {"optimizer": "sgd"}


def test_cyclic_conditions_are_rejected():
    space = {"a": hp.choice([1, 2], when={"b": 1}), "b": hp.choice([1, 2], when={"a": 1})}
    with pytest.raises(ConfigError, match="conditions form a cycle"):
        hp.dimensions(space)


def test_specs_round_trip_through_dicts():
    space = {"lr": hp.branches("optimizer", {"nesterov": hp.log(1e-2, 1.0),
                                             "adamw": hp.log(1e-5, 1e-3)}),
             "m": hp.reverse_log(0.8, 0.99, when={"optimizer": "nesterov"}),
             "w": hp.int_range(16, 512, "log"), "act": hp.choice(["relu", "gelu"])}
    for spec in space.values():
        assert hp.spec_from_any(spec.to_dict()) == spec


def test_a_range_narrower_than_float_precision_on_its_scale_is_refused():
    """1 - 3.6e-29 is 1.0 in floats: such a reverse_log range has no width to map."""
    with pytest.raises(ConfigError, match="reverse_log range of 'momentum' .* narrower than "
                                          "float precision"):
        hp.reverse_log(0.0, 3.6e-29).check("momentum")
    with pytest.raises(ConfigError, match="log range of 'lr' .* narrower"):
        hp.log(1e300, math.nextafter(1e300, math.inf)).check("lr")  # equal logarithms
    hp.reverse_log(0.0, 1e-9).check("momentum")  # tiny but representable: fine
