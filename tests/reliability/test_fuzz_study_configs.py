"""Fuzzing study declarations and the `playbook` command with hypothesis.

The contract under test (playbook/errors.py): bad input to a study config or to
the CLI is a `ConfigError` with a one-line message, raised before anything is
written; the CLI prints it as one `playbook: error: ...` line and exits with
status 2. Any other exception, a traceback, or a study directory left behind is
a bug. A declaration that is accepted must produce buildable trial configs with
every value inside its declared range.

Run with `-s` to see how many cases were tried:

    pytest tests/reliability -s
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib.util
import io
import itertools
import json
import os
import pathlib
import tempfile
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbook import cli
from playbook import config as config_lib
from playbook import search as hp
from playbook.errors import ConfigError
from playbook.study import StudySpec, define

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASELINE_PATH = str(ROOT / "configs" / "synthetic_mlp.py")
STUDY_PATH = str(ROOT / "configs" / "studies" / "synthetic_optimizers.py")
BASELINE = config_lib.load(BASELINE_PATH)
BASELINE_JSON = json.dumps(config_lib.to_dict(BASELINE))
LEAVES = config_lib.flat_keys(BASELINE)
SECTIONS = ("data", "model", "checkpoint")
# PLAYBOOK_FUZZ_SCALE=10 tries ten times as many cases (a longer hunt, not for CI).
SCALE = float(os.environ.get("PLAYBOOK_FUZZ_SCALE", "1"))
SPEC_EXAMPLES = int(1000 * SCALE)
CLI_EXAMPLES = int(500 * SCALE)

# Cases tried per property and outcome, printed at the end of the module (`-s`).
COUNTS: collections.Counter = collections.Counter()

FUZZ = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    total = sum(COUNTS.values())
    lines = [f"  {key}: {n}" for key, n in sorted(COUNTS.items())]
    print(f"\nfuzz cases tried: {total}\n" + "\n".join(lines))


# -- Recipes: calls built inside the property, so a constructor's own exception counts --------


@dataclasses.dataclass(frozen=True)
class Call:
    """A deferred call `fn(*args, **kwargs)`; nested Calls are built first."""

    fn: Any
    args: tuple = ()
    kwargs: tuple = ()

    def __repr__(self) -> str:
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{getattr(self.fn, '__name__', self.fn)}({', '.join(args)})"


class _Baseline:
    """Stands for the loaded baseline ConfigDict in recipes (its repr is 40 lines)."""

    def __repr__(self) -> str:
        return "BASELINE"


def build(recipe: Any) -> Any:
    if isinstance(recipe, _Baseline):
        return BASELINE
    if isinstance(recipe, Call):
        return recipe.fn(*(build(a) for a in recipe.args),
                         **{k: build(v) for k, v in recipe.kwargs})
    if isinstance(recipe, dict):
        return {k: build(v) for k, v in recipe.items()}
    if isinstance(recipe, list):
        return [build(v) for v in recipe]
    return recipe


def call(fn, *args, **kwargs) -> st.SearchStrategy[Call]:
    """A strategy of Calls whose arguments are drawn from the given strategies."""
    names = sorted(kwargs)
    return st.tuples(st.tuples(*args), st.tuples(*(kwargs[n] for n in names))).map(
        lambda a: Call(fn, a[0], tuple(zip(names, a[1]))))


# -- Keys and values ----------------------------------------------------------------------------


def text(max_size: int) -> st.SearchStrategy[str]:
    """Any text but line breaks: messages quote user text verbatim (the CLI escapes breaks,
    which the command-line fuzz below checks with override values)."""
    return st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=max_size)


ODD_KEYS = ("", ".", "a..b", ".optimizer", "optimizer.", "items", "keys", "get", "lock", "values",
            "model.width.extra", "learning_rate.low", "max_train_steps", "optimizer ", "Optimizer")


@st.composite
def misspelled(draw, keys=LEAVES) -> str:
    key = draw(st.sampled_from(keys))
    i = draw(st.integers(0, len(key)))
    c = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_.0"))
    op = draw(st.sampled_from(("insert", "replace", "delete")))
    if op == "insert":
        return key[:i] + c + key[i:]
    if op == "replace":
        return key[:i] + c + key[i + 1:]
    return key[:i] + key[i + 1:]


keys = st.one_of(
    st.sampled_from(LEAVES),
    st.sampled_from(LEAVES),
    misspelled(),
    st.sampled_from(SECTIONS),
    st.sampled_from(ODD_KEYS),
    text(max_size=6),
    st.integers(-3, 3),
)

names = st.sampled_from(("relu", "gelu", "adamw", "nesterov", "sgd", "adam", "cosine", "mlp",
                         "synthetic", "valid/error_rate"))
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-5, 300), st.integers(-2**70, 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from((0, 0.0, -1, 1, 1e-8, 1e-3, 0.5, 0.9, 0.999, 1.0, 2.0)),
    names, text(max_size=5),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(text(max_size=4), inner, max_size=2)),
    max_leaves=6)


def typed_values(key: str) -> st.SearchStrategy:
    """Values of the type of the baseline's `key` (most often accepted)."""
    current = config_lib.get(BASELINE, key)
    if isinstance(current, bool):
        return st.booleans()
    if isinstance(current, int):
        return st.integers(-2, 300)
    if isinstance(current, float):
        return st.one_of(st.floats(0.0, 1.0), st.integers(0, 10))
    if isinstance(current, str):
        return names
    return anything


@st.composite
def scientific_entry(draw) -> tuple[Any, Any]:
    if draw(st.booleans()):
        key = draw(st.sampled_from(LEAVES))
        values = draw(st.lists(typed_values(key), min_size=1, max_size=3))
        return key, values
    key = draw(keys)
    values = draw(st.one_of(st.lists(scalars, max_size=4), st.lists(anything, max_size=3),
                            anything, st.just([]), st.tuples(scalars, scalars)))
    return key, values


scientific = st.one_of(
    st.lists(scientific_entry(), min_size=1, max_size=3).map(dict),
    st.just({}), st.just({"optimizer": ["nesterov", "adamw"]}),
    anything,
)

# -- Nuisance specs -------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(1e-8, 0.9999),
    st.integers(-10**20, 10**20), st.integers(-3, 64),
    st.sampled_from((0, 0.0, -1, 1, -0.0, 1e-8, 0.5, 0.999, 1.0, float("nan"), float("inf"))),
    text(max_size=3), st.none(), st.booleans(),
)
whens = st.one_of(
    st.none(),
    st.builds(lambda v: {"optimizer": v},
              st.one_of(names, st.lists(names, max_size=3))),
    st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=2),
    st.sampled_from(([], "optimizer", 3, ["optimizer"])),
)
scales = st.one_of(st.sampled_from(hp.SCALES), st.sampled_from(("cubic", "", "LOG")),
                   st.integers(0, 2), st.none())


@st.composite
def plausible_float_range(draw) -> Call:
    low, high = sorted(draw(st.lists(st.floats(1e-6, 0.99), min_size=2, max_size=2)))
    fn = draw(st.sampled_from((hp.linear, hp.log, hp.reverse_log)))
    return Call(fn, (low, high), (("when", draw(st.one_of(st.none(), whens))),))


specs_base = st.one_of(
    plausible_float_range(),
    call(hp.linear, numbers, numbers, when=whens),
    call(hp.log, numbers, numbers, when=whens),
    call(hp.reverse_log, numbers, numbers, when=whens),
    call(hp.float_range, numbers, numbers, scale=scales, when=whens),
    call(hp.int_range, st.integers(-5, 64), st.integers(-5, 64), scale=scales, when=whens),
    call(hp.int_range, numbers, numbers, scale=scales, when=whens),
    call(hp.discrete, st.one_of(st.lists(numbers, max_size=4), anything), when=whens),
    call(hp.choice, st.one_of(st.lists(names, max_size=4), st.lists(scalars, max_size=4),
                              anything), when=whens),
)

raw_fields = {
    "low": numbers, "high": numbers, "scale": scales, "when": whens, "values": anything,
    "key": keys, "branches": anything, "bogus": scalars,
}
raw_specs = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(("float", "int", "discrete", "choice", "branches",
                                        "spec", "log", "")), scalars)},
    optional=raw_fields)


@st.composite
def raw_branches(draw) -> dict:
    branch_specs = draw(st.lists(st.tuples(st.one_of(names, scalars, st.lists(names, max_size=1)),
                                           raw_specs), max_size=3))
    return {"kind": "branches", "key": draw(keys), "branches": [list(b) for b in branch_specs]}


branch_maps = st.one_of(
    st.dictionaries(st.one_of(names, scalars.filter(lambda v: not isinstance(v, float))),
                    st.one_of(specs_base, raw_specs), max_size=3),
    anything,
)
specs = st.one_of(
    specs_base, specs_base, specs_base,
    call(hp.branches, st.one_of(st.just("optimizer"), keys), branch_maps),
    raw_specs, raw_branches(),
    anything,
)
nuisance = st.one_of(
    st.dictionaries(keys, specs, max_size=4),
    st.dictionaries(st.sampled_from(LEAVES), specs, max_size=4),
    st.just({}),
    anything,
)

# -- Everything else -------------------------------------------------------------------------------

budgets = st.one_of(st.integers(1, 3), st.integers(-3, 3), st.integers(-2**70, 2**70),
                    st.sampled_from((10_000, 10_001, 0)), st.floats(), text(max_size=3),
                    st.booleans(), st.none())
designers_ = st.one_of(st.sampled_from(("halton", "halton", "bayesopt", "grid", "Halton", "")),
                       scalars)
metrics = st.one_of(st.sampled_from(("valid/error_rate", "valid/accuracy", "valid/loss",
                                     "train/loss", "valid/", "error_rate", "")), scalars)
goals = st.one_of(st.sampled_from(("minimize", "maximize", "", "min")), scalars)
seeds = st.one_of(st.integers(0, 10), st.integers(-2**70, 2**70), st.floats(), text(max_size=2),
                  st.booleans(), st.none())
fixeds = st.one_of(
    st.none(), st.just({}),
    st.dictionaries(st.sampled_from(LEAVES), st.one_of(scalars, anything), max_size=2),
    st.dictionaries(keys, anything, max_size=2),
    anything,
)
baselines = st.one_of(st.just(_Baseline()), st.just(_Baseline()), st.just(_Baseline()),
                      st.just(BASELINE_PATH), st.just(BASELINE_PATH + ":x"),
                      st.just(str(ROOT / "configs")), st.just("nope.py"), scalars)


OPTIONAL_FIELDS = {"metric": metrics, "goal": goals, "designer": designers_, "seed": seeds,
                   "fixed": fixeds, "name": st.one_of(text(max_size=4), scalars)}


@st.composite
def random_study(draw) -> dict[str, Any]:
    """Every field drawn from anything plausible or not: mostly rejected."""
    kwargs = {"baseline": draw(baselines), "scientific": draw(scientific),
              "nuisance": draw(nuisance), "budget": draw(budgets)}
    for name, strategy in OPTIONAL_FIELDS.items():
        if draw(st.booleans()):
            kwargs[name] = draw(strategy)
    return kwargs


# A realistic study: scientific keys with values of their type, nuisance ranges that fit.
SCIENTIFIC_CHOICES = {
    "optimizer": ("adamw", "nesterov", "sgd", "adam", "momentum"),
    "model.width": (8, 16, 32, 64), "model.depth": (1, 2, 3),
    "model.activation": ("relu", "gelu", "tanh"), "batch_size": (16, 32, 64),
    "schedule": ("cosine", "linear", "constant"), "data.noise": (0.5, 1.0, 2.0),
    "warmup_fraction": (0.0, 0.05, 0.1), "max_train_steps": (50, 100, 200),
}


def _range(fn, low: float, high: float) -> st.SearchStrategy[tuple[float, float]]:
    return st.lists(st.floats(low, high), min_size=2, max_size=2, unique=True).map(sorted).map(
        lambda b: (fn, b[0], b[1]))


def nuisance_candidates(optimizers: tuple[str, ...], activations: tuple[str, ...]
                        ) -> dict[str, st.SearchStrategy]:
    """Specs that fit each key, with conditions on values the study really takes."""
    on_optimizer = st.one_of(st.none(), st.lists(st.sampled_from(optimizers), min_size=1,
                                                 max_size=2, unique=True).map(
        lambda v: {"optimizer": v if len(v) > 1 else v[0]}))

    def floats(fn, low, high, when=on_optimizer):
        return st.tuples(_range(fn, low, high), when).map(
            lambda a: Call(a[0][0], (a[0][1], a[0][2]), (("when", a[1]),)))

    branch = st.fixed_dictionaries({}, optional={o: floats(hp.log, 1e-5, 1.0, st.none())
                                                 for o in optimizers}).filter(bool)
    return {
        "learning_rate": st.one_of(floats(hp.log, 1e-5, 1.0),
                                   branch.map(lambda b: Call(hp.branches, ("optimizer", b)))),
        "weight_decay": floats(hp.log, 1e-7, 1e-1),
        "momentum": floats(hp.reverse_log, 0.0, 0.999),
        "b1": floats(hp.reverse_log, 0.5, 0.999), "b2": floats(hp.reverse_log, 0.9, 0.9999),
        "eps": floats(hp.log, 1e-10, 1e-3),
        "model.dropout": st.one_of(floats(hp.linear, 0.0, 0.5), st.lists(
            st.floats(0, 0.9), min_size=1, max_size=3, unique=True).map(
            lambda v: Call(hp.discrete, (v,)))),
        "warmup_steps": st.one_of(
            st.lists(st.integers(0, 100), min_size=2, max_size=2, unique=True).map(sorted).map(
                lambda b: Call(hp.int_range, tuple(b))),
            st.lists(st.integers(0, 1000), min_size=1, max_size=4, unique=True).map(
                lambda v: Call(hp.discrete, (v,)))),
        "model.width": st.lists(st.integers(1, 512), min_size=2, max_size=2, unique=True).map(
            sorted).map(lambda b: Call(hp.int_range, tuple(b), (("scale", "log"),))),
        "model.activation": st.lists(st.sampled_from(("relu", "gelu", "tanh", "silu")),
                                     min_size=1, max_size=3, unique=True).map(
            lambda v: Call(hp.choice, (v,))),
        "lr_end_factor": floats(hp.linear, 0.0, 1.0, st.one_of(st.none(), st.just(
            {"model.activation": list(activations)}))),
        "grad_clip_norm": floats(hp.linear, 0.0, 10.0),
    }


@st.composite
def plausible_study(draw) -> dict[str, Any]:
    sci_keys = draw(st.lists(st.sampled_from(sorted(SCIENTIFIC_CHOICES)), min_size=1, max_size=2,
                             unique=True))
    sci = {k: draw(st.lists(st.sampled_from(SCIENTIFIC_CHOICES[k]), min_size=1, max_size=3,
                            unique=True)) for k in sci_keys}
    optimizers = tuple(sci.get("optimizer", [BASELINE.optimizer]))
    activations = tuple(sci.get("model.activation", [BASELINE.model.activation]))
    candidates = nuisance_candidates(optimizers, activations)
    keys_ = draw(st.lists(st.sampled_from(sorted(set(candidates) - set(sci))), max_size=4,
                          unique=True))
    kwargs = {"baseline": _Baseline(), "scientific": sci,
              "nuisance": {k: draw(candidates[k]) for k in keys_},
              "budget": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        kwargs["designer"] = draw(st.sampled_from(("halton", "bayesopt")))
    if draw(st.booleans()):
        kwargs["seed"] = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        kwargs["metric"] = draw(st.sampled_from(("valid/error_rate", "valid/accuracy", "valid/loss")))
    if draw(st.booleans()):
        free = sorted(set(LEAVES) - set(sci) - set(keys_) - {"metric", "workload"})
        key = draw(st.sampled_from(free))
        kwargs["fixed"] = {key: draw(typed_values(key))}
    return kwargs


@st.composite
def mutated_study(draw) -> dict[str, Any]:
    """A realistic study with one field, entry or bound made wrong."""
    kwargs = draw(plausible_study())
    where = draw(st.sampled_from(("field", "scientific", "nuisance", "nuisance", "bound")))
    if where == "field":
        name = draw(st.sampled_from(["baseline", "scientific", "nuisance", "budget",
                                     *OPTIONAL_FIELDS]))
        kwargs[name] = draw({"baseline": baselines, "scientific": scientific,
                             "nuisance": nuisance, "budget": budgets, **OPTIONAL_FIELDS}[name])
    elif where == "scientific":
        key, values = draw(scientific_entry())
        kwargs["scientific"] = {**kwargs["scientific"], key: values}
    elif where == "nuisance":
        kwargs["nuisance"] = {**kwargs["nuisance"], draw(keys): draw(specs)}
    elif kwargs["nuisance"]:
        key = draw(st.sampled_from(sorted(kwargs["nuisance"])))
        recipe = kwargs["nuisance"][key]
        if recipe.args and not isinstance(recipe.args[0], (str, list)):
            i = draw(st.integers(0, len(recipe.args) - 1))
            args = list(recipe.args)
            args[i] = draw(numbers)
            kwargs["nuisance"] = {**kwargs["nuisance"],
                                  key: dataclasses.replace(recipe, args=tuple(args))}
    return kwargs


study_recipes = st.one_of(plausible_study(), mutated_study(), mutated_study(),
                          random_study()).map(lambda kw: Call(define, (), tuple(kw.items())))


# -- Property 1: a declaration is accepted and sound, or rejected with one line ----------------------


def _in_spec(spec: hp.Spec, value: Any) -> bool:
    if isinstance(spec, hp.Float):
        return isinstance(value, float) and spec.low <= value <= spec.high
    if isinstance(spec, hp.Int):
        return (isinstance(value, int) and not isinstance(value, bool)
                and spec.low <= value <= spec.high)
    return repr(value) in map(repr, spec.values)


def _check_accepted(spec: StudySpec) -> None:
    trials = spec.trials(spec.new_designer().suggest(2))
    combos = spec.scientific_values()
    assert len(trials) == 2 * len(combos)
    declared = dict(spec.scientific)
    leaves = config_lib.flat_keys(spec.baseline)
    for trial in trials:
        for key, value in trial.scientific.items():
            assert repr(value) in map(repr, declared[key])
        known = {**spec.context(trial.scientific), **trial.nuisance}
        for key, value in trial.nuisance.items():
            resolved = hp.Dimension(key, spec.nuisance[key]).resolve(known)
            assert resolved is not None and _in_spec(resolved, value), (key, value, resolved)
        config = spec.trial_config(trial)
        assert config_lib.flat_keys(config) == leaves
        for key in leaves:
            before, after = config_lib.get(spec.baseline, key), config_lib.get(config, key)
            assert config_lib._fits(before, after), (key, before, after)
        for key, value in {**trial.scientific, **trial.nuisance}.items():
            assert repr(config_lib.get(config, key)) in (repr(value), repr(float(value))
                                                         if isinstance(value, int) else "")
    # The runner stores the spec as JSON and rebuilds it (study.json).
    stored = json.loads(json.dumps(spec.to_dict()))
    assert json.dumps(StudySpec.from_dict(stored).to_dict()) == json.dumps(stored)


@pytest.mark.slow
@settings(FUZZ, max_examples=SPEC_EXAMPLES)
@given(recipe=study_recipes)
def test_study_declaration_is_sound_or_a_one_line_config_error(recipe):
    try:
        spec = StudySpec.from_config(build(recipe))
    except ConfigError as e:
        message = str(e)
        assert len(message.splitlines()) == 1, message
        COUNTS["declarations rejected (ConfigError)"] += 1
    else:
        _check_accepted(spec)
        COUNTS["declarations accepted"] += 1
    assert json.dumps(config_lib.to_dict(BASELINE)) == BASELINE_JSON  # never modified


# -- Property 2: the command line ------------------------------------------------------------------

SYNTAX_ERROR = "def get_config(:\n"
RAISES = "def get_config():\n    raise RuntimeError('boom')\n"
RAISES_KEY = "def get_config():\n    return {}['missing']\n"
RETURNS_DICT = "def get_config():\n    return {'budget': 2}\n"
RETURNS_NONE = "def get_config():\n    return None\n"
NO_GET_CONFIG = "x = 1\n"
IMPORT_ERROR = "import playbook_no_such_module\n"
TAKES_ARG = ("from ml_collections import ConfigDict\n"
             "def get_config(arg):\n    return ConfigDict({'a': int(arg)})\n")
BAD_STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(baseline={baseline!r}, scientific={scientific},
                  nuisance={nuisance}, budget={budget})
"""
BAD_STUDIES = (
    ("{'optimzer': ['adamw']}", "{}", "2"),
    ("{'optimizer': ['adamw']}", "{'learning_rate': hp.log(0.0, 1.0)}", "2"),
    ("{'optimizer': 'adamw'}", "{}", "2"),
    ("{'optimizer': ['adamw']}", "{}", "'two'"),
    ("{'optimizer': ['adamw']}", "{'learning_rate': {'kind': 'float', 'lo': 1}}", "2"),
    ("{'optimizer': ['adamw']}", "{'momentum': hp.linear(0.1, 0.9, when={'optimizer': 'sgd'})}",
     "2"),
)
STATUS_FILES = {  # study.json contents of broken study directories
    "empty": "", "truncated": '{"spec": {', "null": "null", "list": "[]",
    "no_spec": '{"version": 1}', "empty_spec": '{"spec": {}}',
    "partial_spec": '{"spec": {"name": "x", "budget": 2}}',
    "bad_types": '{"spec": {"name": 1, "description": "", "baseline": {}, "scientific": [], '
                 '"nuisance": {"lr": {"kind": "bogus"}}, "fixed": {}, "budget": "x", '
                 '"designer": "halton", "metric": "valid/loss", "goal": "minimize", "seed": 0}}',
    "spec_list": '{"spec": [1, 2]}',
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fuzz_files")
    out = {}
    for name, text in [("syntax_error", SYNTAX_ERROR), ("raises", RAISES),
                       ("raises_key", RAISES_KEY), ("returns_dict", RETURNS_DICT),
                       ("returns_none", RETURNS_NONE), ("no_get_config", NO_GET_CONFIG),
                       ("import_error", IMPORT_ERROR), ("takes_arg", TAKES_ARG), ("empty", "")]:
        (d / f"{name}.py").write_text(text)
        out[name] = str(d / f"{name}.py")
    out["takes_arg:x"] = out["takes_arg"] + ":x"
    out["returns_dict:arg"] = out["returns_dict"] + ":arg"
    for i, (sci, nui, budget) in enumerate(BAD_STUDIES):
        path = d / f"bad_study_{i}.py"
        path.write_text(BAD_STUDY.format(baseline=BASELINE_PATH, scientific=sci, nuisance=nui,
                                         budget=budget))
        out[f"bad_study_{i}"] = str(path)
    out["missing_baseline"] = str(d / "missing_baseline.py")
    (d / "missing_baseline.py").write_text(BAD_STUDY.format(
        baseline="no_such_baseline.py", scientific="{'optimizer': ['adamw']}", nuisance="{}",
        budget="2"))
    out["directory"] = str(d)
    out["directory.py"] = str(d / "dir.py")
    (d / "dir.py").mkdir()
    out["nonexistent"] = str(d / "nonexistent.py")
    out["json"] = str(d / "config.json")
    (d / "config.json").write_text("{}")
    for name, text in STATUS_FILES.items():
        (d / f"status_{name}").mkdir()
        (d / f"status_{name}" / "study.json").write_text(text)
        out[f"status_{name}"] = str(d / f"status_{name}")
    out["status_no_json"] = str(d / "status_no_json")
    (d / "status_no_json").mkdir()
    return out


BAD_CONFIGS = ("syntax_error", "raises", "raises_key", "returns_dict", "returns_none",
               "no_get_config", "import_error", "takes_arg", "takes_arg:x", "returns_dict:arg",
               "empty", "missing_baseline", "directory", "directory.py", "nonexistent", "json",
               *(f"bad_study_{i}" for i in range(len(BAD_STUDIES))))
# Files no loader accepts (study configs with bad contents still load as configs).
UNLOADABLE = tuple(c for c in BAD_CONFIGS if not c.startswith(("bad_study", "missing_baseline")))
STUDY_KEYS = ("budget", "seed", "designer", "metric", "goal", "name", "scientific",
              "scientific.optimizer", "nuisance", "nuisance.learning_rate",
              "nuisance.momentum.low", "nuisance.momentum.scale", "nuisance.weight_decay.kind",
              "fixed", "baseline", "bugdet", "scientific.optimiser", "nuisance.b1.when.optimizer")
TRAIN_KEYS = ("learning_rate", "model.width", "model.activation", "batch_size", "optimizer",
              "max_train_steps", "model", "data.noise", "checkpoint.keep_best", "learnig_rate",
              "model.widht", "metric", "seed")
# Overrides no config accepts: each is a ConfigError whatever the rest of the command line.
DEFINITELY_BAD_STUDY_OVERRIDES = (
    "--config.budget=many", "--config.budget=-1", "--config.budget=0", "--config.budget=1.5",
    "--config.bugdet=3", "--config.scientific.optimiser=adamw", "--config.seed=x",
    "--config.designer=grid", "--config.metric=valid/nope", "--config.goal=up",
    "--config.nuisance.momentum.low=2.0", "--config.nuisance.weight_decay.kind=bogus",
    "--config.budget", "--config.=3", "--config..budget=3", "--config.budget.x=3",
    "--config.nuisance.momentum.scale=cubic", "--config.scientific=adamw",
)
DEFINITELY_BAD_TRAIN_OVERRIDES = (
    "--config.learning_rate=fast", "--config.model.width=wide", "--config.learnig_rate=0.1",
    "--config.model.widht=3", "--config.batch_size=1.5", "--config.model=3",
    "--config.learning_rate", "--config.=1", "--config.model.width.x=1",
)
ARGPARSE_BAD = (
    ["--foo"], ["--foo=1"], ["extra"], ["--format=xml"], ["--executor=gpu"], ["--workers=x"],
    ["--cpus_per_trial=abc"], ["--dry_run=yes"], ["-x"], ["--config"], ["--workdir"],
    ["--workers"], ["--help=no"],
)


@st.composite
def override(draw, keys_: tuple[str, ...]) -> str:
    key = draw(st.sampled_from(keys_))
    value = draw(st.one_of(st.sampled_from(("", "1", "-1", "0", "1.5", "nan", "inf", "True",
                                            "None", "adamw", "[1, 2]", "{}", "'x'", "1e400")),
                           st.text(alphabet=st.characters(codec="ascii", exclude_characters="\0"),
                                   max_size=5)))
    return f"--config.{key}={value}"


@st.composite
def study_argv(draw, files: dict[str, str], workdir: str) -> list[str]:
    config = draw(st.one_of(st.sampled_from(BAD_CONFIGS).map(files.get), st.just(STUDY_PATH)))
    parts = [["--config", config], ["--workdir", workdir]]
    if draw(st.booleans()):
        parts.append(["--dry_run"])
    parts += [[draw(override(STUDY_KEYS))] for _ in range(draw(st.integers(0, 2)))]
    parts += [[a] for a in draw(st.lists(st.sampled_from(
        ("--format=json", "--format=text", "--no_progress", "--retry_failed", "--executor=inline",
         "--workers=1")), max_size=2))]
    if config == STUDY_PATH:  # make sure at least one definite error is present
        bad = draw(st.one_of(st.sampled_from(DEFINITELY_BAD_STUDY_OVERRIDES).map(lambda a: [a]),
                             st.sampled_from(ARGPARSE_BAD)))
        parts.insert(draw(st.integers(0, len(parts))), bad)
    if draw(st.integers(0, 9)) == 0:  # a required flag left out
        dropped = draw(st.sampled_from(("--config", "--workdir")))
        parts = [p for p in parts if p[0] != dropped]
    parts = draw(st.permutations(parts))
    return ["study", *itertools.chain.from_iterable(parts)]


@st.composite
def train_argv(draw, files: dict[str, str], workdir: str) -> list[str]:
    config = draw(st.one_of(st.sampled_from(UNLOADABLE).map(files.get), st.just(BASELINE_PATH)))
    parts = [["--config", config], ["--workdir", workdir]]
    parts += [[draw(override(TRAIN_KEYS))] for _ in range(draw(st.integers(0, 2)))]
    if config == BASELINE_PATH or not TRAIN_MAIN:
        bad = draw(st.sampled_from(DEFINITELY_BAD_TRAIN_OVERRIDES).map(lambda a: [a])
                   if TRAIN_MAIN else st.sampled_from(ARGPARSE_BAD))
        parts.insert(draw(st.integers(0, len(parts))), bad)
    return ["train", *itertools.chain.from_iterable(draw(st.permutations(parts)))]


@st.composite
def status_argv(draw, files: dict[str, str], workdir: str) -> list[str]:
    target = draw(st.one_of(
        st.sampled_from([k for k in files if k.startswith("status_")]).map(files.get),
        st.just(workdir), st.sampled_from(BAD_CONFIGS).map(files.get)))
    argv = ["status", target]
    if draw(st.integers(0, 4)) == 0:
        argv += draw(st.sampled_from((["--config.budget=2"], ["--foo"], ["extra"], ["--workdir"])))
    return argv


TRAIN_MAIN = importlib.util.find_spec("playbook.train.main") is not None


def _listing(path: str) -> list[str]:
    return sorted(str(p) for p in pathlib.Path(path).rglob("*")) if os.path.isdir(path) else []


def _run_cli(argv: list[str], workdir: str, watched: list[str]) -> None:
    """Runs `playbook ARGV` in-process; asserts exit 2, a one-line error, nothing written."""
    before = {p: _listing(p) for p in watched}
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        # A command line that slipped through validation must not train anything.
        stack.enter_context(mock.patch.object(cli, "_execute", side_effect=AssertionError(
            "would run a study")))
        if TRAIN_MAIN:
            stack.enter_context(mock.patch("playbook.train.loop.train_and_evaluate",
                                           side_effect=AssertionError("would train")))
        stack.enter_context(contextlib.redirect_stderr(stderr))
        stack.enter_context(contextlib.redirect_stdout(stdout))
        try:
            code = cli.main(argv)
            from_argparse = False
        except SystemExit as e:
            code, from_argparse = e.code, True
    err = stderr.getvalue().strip().splitlines()
    assert code == 2, (argv, code, err)
    assert err and "Traceback" not in stderr.getvalue(), (argv, err)
    if from_argparse:  # argparse's usage line(s), then its one error line
        assert err[-1].startswith("playbook") and ": error: " in err[-1], (argv, err)
        assert all(line.startswith(("usage:", " ")) for line in err[:-1]), (argv, err)
        COUNTS["cli argv rejected by argparse"] += 1
    else:
        assert len(err) == 1 and err[0].startswith("playbook: error: "), (argv, err)
        COUNTS["cli argv rejected as ConfigError"] += 1
    assert not os.path.exists(workdir), (argv, "workdir created")
    for path, listing in before.items():
        assert _listing(path) == listing, (argv, f"{path} was written to")


@pytest.mark.slow
@settings(FUZZ, max_examples=CLI_EXAMPLES)
@given(data=st.data())
def test_bad_command_line_exits_2_with_one_error_line_and_writes_nothing(files, data):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = os.path.join(tmp, "study")
        command = data.draw(st.sampled_from(("study", "study", "train", "status")))
        strategy = {"study": study_argv, "train": train_argv, "status": status_argv}[command]
        argv = data.draw(strategy(files, workdir), label="argv")
        watched = [files["directory"]]
        _run_cli(argv, workdir, watched)


def test_config_file_errors_are_each_one_line(files):
    """Every broken config file, through `playbook study` with and without --dry_run."""
    for name in BAD_CONFIGS:
        for dry_run in ([], ["--dry_run"]):
            with tempfile.TemporaryDirectory() as tmp:
                workdir = os.path.join(tmp, "study")
                _run_cli(["study", "--config", files[name], "--workdir", workdir, *dry_run],
                         workdir, [files["directory"]])


def test_broken_study_directories_are_one_line_errors_for_status(files):
    for name in [*(f"status_{k}" for k in STATUS_FILES), "status_no_json"]:
        with tempfile.TemporaryDirectory() as tmp:
            _run_cli(["status", files[name]], os.path.join(tmp, "none"), [files[name]])


@pytest.mark.slow  # with the fuzz test it counts
def test_fuzz_tried_both_accepted_and_rejected_declarations():
    """Runs last in this module: the declaration property saw sound and bad studies alike."""
    if not COUNTS:
        pytest.skip("run together with the fuzz tests above")
    assert COUNTS["declarations accepted"] > SPEC_EXAMPLES // 10
    assert COUNTS["declarations rejected (ConfigError)"] > SPEC_EXAMPLES // 10
