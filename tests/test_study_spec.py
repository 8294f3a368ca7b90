"""Study declarations: roles, trials, serialisation, and every validation error."""

import glob
import os
import re

import numpy as np
import pytest

from playbook import config as config_lib
from playbook import search as hp
from playbook.errors import ConfigError
from playbook.study import StudySpec, define


@pytest.fixture
def baseline(root):
    return config_lib.load(str(root / "configs" / "synthetic_mlp.py"))


def study(baseline, **kw):
    args = dict(baseline=baseline, scientific={"optimizer": ["nesterov", "adamw"]},
                nuisance={"learning_rate": hp.log(1e-4, 1e-1)}, budget=3)
    args.update(kw)
    return StudySpec.from_config(define(**args))


def test_unnamed_baseline_keys_are_fixed_and_trials_set_their_values(baseline):
    spec = study(baseline, scientific={"model.width": [16, 64]},
                 nuisance={"learning_rate": hp.log(1e-4, 1e-1)}, fixed={"max_train_steps": 50})
    trials = spec.trials(spec.new_designer().suggest(spec.budget))
    assert [t.trial_id for t in trials] == ["0000", "0001", "0002", "0003", "0004", "0005"]
    assert [t.scientific["model.width"] for t in trials] == [16, 64] * 3
    config = spec.trial_config(trials[1])
    assert config.model.width == 64
    assert config.learning_rate == trials[1].nuisance["learning_rate"]
    assert config.max_train_steps == 50          # the study's fixed override
    assert config.model.depth == baseline.model.depth   # untouched: fixed
    assert baseline.model.width == 32            # the baseline itself is not modified


def test_scientific_values_are_paired_on_the_same_nuisance_points(baseline):
    spec = study(baseline, nuisance={"learning_rate": hp.log(1e-4, 1e-1),
                                     "weight_decay": hp.log(1e-6, 1e-2)})
    trials = spec.trials(spec.new_designer().suggest(spec.budget))
    for a, b in zip(trials[::2], trials[1::2]):
        assert a.nuisance == b.nuisance
        assert a.scientific != b.scientific


def test_several_scientific_keys_enumerate_their_cross_product(baseline):
    spec = study(baseline, scientific={"optimizer": ["nesterov", "adamw"],
                                       "model.depth": [1, 2, 3]})
    combos = spec.scientific_values()
    assert len(combos) == 6
    assert combos[0] == {"optimizer": "nesterov", "model.depth": 1}
    assert len(spec.trials(spec.new_designer().suggest(2))) == 12


def test_conditional_nuisance_only_exists_for_its_branch(baseline):
    spec = study(baseline, nuisance={
        "learning_rate": hp.branches("optimizer", {"nesterov": hp.log(1e-2, 1.0),
                                                   "adamw": hp.log(1e-5, 1e-3)}),
        "momentum": hp.reverse_log(0.8, 0.99, when={"optimizer": "nesterov"}),
        "b1": hp.reverse_log(0.8, 0.99, when={"optimizer": "adamw"})})
    for trial in spec.trials(spec.new_designer().suggest(5)):
        if trial.scientific["optimizer"] == "nesterov":
            assert set(trial.nuisance) == {"learning_rate", "momentum"}
            assert 1e-2 <= trial.nuisance["learning_rate"] <= 1.0
        else:
            assert set(trial.nuisance) == {"learning_rate", "b1"}
            assert 1e-5 <= trial.nuisance["learning_rate"] <= 1e-3


def test_spec_round_trips_through_its_json_form(baseline):
    spec = study(baseline, nuisance={
        "learning_rate": hp.branches("optimizer", {"nesterov": hp.log(1e-2, 1.0),
                                                   "adamw": hp.log(1e-5, 1e-3)}),
        "model.width": hp.int_range(8, 64, "log")})
    again = StudySpec.from_dict(spec.to_dict())
    assert again.to_dict() == spec.to_dict()
    points = spec.new_designer().suggest(3)
    assert [t.to_dict() for t in again.trials(points)] == [t.to_dict() for t in spec.trials(points)]


def test_metric_and_goal_default_from_the_workload(baseline):
    spec = study(baseline, metric="valid/accuracy")
    assert (spec.metric, spec.goal) == ("valid/accuracy", "maximize")
    assert study(baseline).goal == "minimize"


@pytest.mark.parametrize("kwargs, message", [
    (dict(scientific={"optimiser": ["adamw"]}),
     "scientific key 'optimiser' is not in the baseline config (did you mean 'optimizer'?)"),
    (dict(nuisance={"learning_rat": hp.log(1e-4, 1e-1)}),
     "nuisance key 'learning_rat' is not in the baseline config (did you mean 'learning_rate'?)"),
    (dict(nuisance={"model.widht": hp.int_range(8, 64)}),
     "(did you mean 'model.width'?)"),
    (dict(nuisance={"optimizer": hp.choice(["sgd", "adam"])}),
     "'optimizer' is both scientific and nuisance; give it one role"),
    (dict(nuisance={"learning_rate": hp.log(1e-1, 1e-4)}),
     "range of 'learning_rate' is inverted: [0.1, 0.0001]"),
    (dict(nuisance={"learning_rate": hp.linear(0.1, 0.1)}),
     "range of 'learning_rate' is empty"),
    (dict(nuisance={"learning_rate": hp.log(0.0, 1e-1)}),
     "log range of 'learning_rate' must be > 0, got [0.0, 0.1]"),
    (dict(nuisance={"weight_decay": hp.log(-1e-3, 1e-1)}),
     "log range of 'weight_decay' must be > 0"),
    (dict(nuisance={"momentum": hp.reverse_log(0.8, 0.99, when={"optimizer": "nesterv"})}),
     "'momentum' is conditioned on optimizer='nesterv', a value 'optimizer' never takes in "
     "this study; its values: ['nesterov', 'adamw']"),
    (dict(nuisance={"learning_rate": hp.branches("optimizer", {"sgd": hp.log(1e-3, 1.0)})}),
     "conditioned on optimizer='sgd'"),
    (dict(scientific={"model.width": [16, "wide"]}),
     "scientific 'model.width' value 'wide' is a str but the baseline's 'model.width' is 32 (int)"),
    (dict(nuisance={"model.width": hp.log(8.0, 64.0)}),
     "nuisance 'model.width' is a real range but the baseline's 'model.width' is 32 (int); "
     "use hp.int_range"),
    (dict(nuisance={"model.activation": hp.linear(0.0, 1.0)}),
     "use hp.choice"),
    (dict(nuisance={"model.activation": hp.choice(["relu", 3])}),
     "value 3 is a int but the baseline's 'model.activation' is 'relu' (str)"),
    (dict(nuisance={"max_train_steps": hp.int_range(100, 1000)}),
     "never tune max_train_steps inside a study"),
    (dict(scientific={"optimizer": []}), "scientific 'optimizer' lists no values"),
    (dict(scientific={"optimizer": "adamw"}), "scientific 'optimizer' must list the values"),
    (dict(budget=0), "'budget' (trials per scientific value) must be a positive integer, got 0"),
    (dict(budget=10**9), "exceeds 10000"),
    (dict(designer="grid"), "unknown designer 'grid'; valid designers: halton"),
    (dict(metric="valid/eror_rate"),
     "metric 'valid/eror_rate' is not a validation metric of workload 'synthetic' (did you mean "
     "'valid/error_rate'?)"),
    (dict(metric="valid/accuracy", goal="minimize"), "goal 'minimize' contradicts"),
    (dict(fixed={"bach_size": 64}), "fixed key 'bach_size' is not in the baseline config"),
    (dict(fixed={"learning_rate": 0.1}), "'learning_rate' is both fixed and nuisance"),
])
def test_invalid_study_is_a_one_line_config_error(baseline, kwargs, message):
    with pytest.raises(ConfigError) as e:
        study(baseline, **kwargs)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_study_field_is_named(baseline):
    config = define(baseline=baseline, scientific={"optimizer": ["adamw"]},
                    nuisance={}, budget=2)
    config.budgett = 3
    with pytest.raises(ConfigError, match="unknown study field 'budgett' \\(did you mean 'budget'"):
        StudySpec.from_config(config)


@pytest.mark.parametrize("call, message", [
    (lambda b: define(baseline=b, scientific={"optimizer": ["adamw"]}, nuisance={}, budgit=6),
     "define() has no argument 'budgit' (did you mean 'budget'?); its arguments: baseline, "
     "scientific, nuisance, budget, metric, goal,"),
    (lambda b: define(baseline=b, scientific={"optimizer": ["adamw"]}, nuisance={}, budget=2,
                      scientfic={}),
     "define() has no argument 'scientfic' (did you mean 'scientific'?)"),
    (lambda b: define(baseline=b, scientific={"optimizer": ["adamw"]}),
     "define() needs nuisance, budget; its required arguments: baseline, scientific, "
     "nuisance, budget"),
    (lambda b: define(b, {"optimizer": ["adamw"]}, {}, 2),
     "define() takes keyword arguments only"),
], ids=["typo", "another_typo", "missing", "positional"])
def test_a_define_typo_is_one_line_naming_the_closest_argument(baseline, call, message):
    with pytest.raises(ConfigError) as e:
        call(baseline)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_define_typo_in_a_study_file_exits_2_with_the_suggestion(root, tmp_path, capsys):
    from playbook import cli

    path = tmp_path / "s.py"
    path.write_text("from playbook.study import define\n"
                    "def get_config():\n"
                    f"    return define(baseline={str(root / 'configs/synthetic_mlp.py')!r},"
                    " scientific={'optimizer': ['adamw']}, nuisance={}, budgit=6)\n")
    assert cli.main(["study", "--config", str(path), "--workdir", str(tmp_path / "w"),
                     "--dry_run"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"playbook: error: config '{path}': define() has no argument 'budgit' (did you mean "
        f"'budget'?); its arguments: baseline, scientific, nuisance, budget, metric, goal, "
        f"designer, seed, fixed, name, description, previous, trial_timeout"]
    assert not (tmp_path / "w").exists()


def test_missing_baseline_file_is_named(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("from playbook.study import define\n"
                    "def get_config():\n"
                    "    return define(baseline='nope.py', scientific={'seed': [0]},"
                    " nuisance={}, budget=1)\n")
    with pytest.raises(ConfigError, match="baseline config 'nope.py' not found"):
        StudySpec.load(str(path))


@pytest.mark.parametrize("kwargs, message", [
    (dict(scientific={"optimizer": ["nesterov", "sgdd"]}),
     "optimizer 'sgdd' is unknown"),
    (dict(scientific={"batch_size": [32, 0]}), "batch_size=0 must be a positive integer"),
    (dict(scientific={"model.name": ["mlp", "wide_resnet"]}, nuisance={}),
     "unknown model.name 'wide_resnet'"),
    (dict(scientific={"momentum": [0.9, 1.0]}), "momentum=1.0 must be in [0, 1)"),
    (dict(scientific={"schedule": ["cosine", "exponential"]}), "schedule"),
])
def test_values_that_cannot_train_are_caught_before_anything_runs(baseline, kwargs, message):
    with pytest.raises(ConfigError) as e:
        study(baseline, **kwargs)
    assert message in str(e.value)
    assert "(in the trial with " in str(e.value)


@pytest.mark.parametrize("key, spec, message", [
    ("momentum", hp.linear(0.5, 1.5), "'momentum' = 1.5 is outside its natural limits [0, 1)"),
    ("learning_rate", hp.linear(0.0, 0.1), "'learning_rate' = 0 is outside its natural limits (0, inf)"),
    ("weight_decay", hp.linear(-1e-3, 1e-3), "'weight_decay' = -0.001 is outside its natural"),
])
def test_a_range_past_a_natural_limit_is_refused(baseline, key, spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        study(baseline, nuisance={key: spec})


def test_a_reverse_log_range_may_reach_the_natural_limit_zero(baseline):
    spec = study(baseline, nuisance={"momentum": hp.reverse_log(0.0, 0.999)})
    assert spec.nuisance["momentum"].from_unit(0.0) == 0.0


SHIPPED = sorted(p for p in glob.glob(os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "studies", "*.py"))
    if not p.endswith("__init__.py"))


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_every_shipped_study_config_loads_and_plans_its_budget(path):
    spec = StudySpec.load(path)
    points = np.random.default_rng(0).uniform(size=(spec.budget, len(spec.dimensions)))
    planned = spec.trials(points)
    assert len(planned) == spec.budget * len(spec.scientific_values()) > 0
    for trial in planned:
        config = spec.trial_config(trial)
        for key, value in trial.nuisance.items():
            assert config_lib.get(config, key) == value
