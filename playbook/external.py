"""The user's own code, named in a config as `"package.module:attribute"`.

Two kinds of reference: a baseline's `trainer` names a function
`train_and_evaluate(config, workdir)` that trains one trial its own way
(`playbook.train.external_trainer` runs it), and its `workload` may name a
class following the workload protocol (`playbook.workloads.base.Workload`),
which trains on playbook's own loop. This module imports and checks them:
every problem (a module that does not import, a missing attribute, a wrong
signature, a missing protocol member) is a one-line `ConfigError` naming what
was expected, raised before anything runs.

A module is imported as Python would import it, and else from the working
directory (as `python -m` would). Worker processes and Ray tasks import it
again themselves: `search_path` says where this process found it, and
`add_search_paths` puts that directory on a worker's `sys.path`.
This module trains nothing and imports no JAX of its own.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from playbook import config as config_lib
from playbook.errors import ConfigError, closest
from playbook.goal import GOALS, Goal

TRAINER_KEY = "trainer"
GOAL_KEY = "metric_goal"
# What `playbook.train.loop` uses of a workload (playbook/workloads/base.py).
WORKLOAD_ATTRIBUTES = ("metric_goals", "default_metric")
WORKLOAD_METHODS = ("load", "model", "train_loss", "eval_metrics")
_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# A trial's length in steps: the key playbook's own loop trains for, the keys a trainer's
# config is read for (in this order), and the key by which a baseline names its own.
LOOP_LENGTH_KEY = "max_train_steps"
LENGTH_KEYS = ("max_train_steps", "num_train_steps")
LENGTH_KEY = "length_key"



def is_reference(value: Any) -> bool:
    """True for a string of the form `package.module:attribute`."""
    return isinstance(value, str) and ":" in value


def trainer_of(config: Mapping[str, Any] | Any) -> str | None:
    """The config's `trainer` reference, or None when playbook's own loop trains it."""
    value = config.get(TRAINER_KEY, None) if hasattr(config, "get") else None
    return value or None


def load(reference: str, role: str) -> Any:
    """The object `reference` names; ConfigError (one line, naming `role`) otherwise."""
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise ConfigError(f"{role} {reference!r} is not a reference to code; write it as "
                          f"'package.module:name', e.g. 'train:train_and_evaluate'")
    module_name, attribute = reference.split(":")
    module = _import(module_name, role, reference)
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = sorted(n for n in vars(module) if not n.startswith("_"))
            raise ConfigError(f"{role} '{reference}': module '{module_name}' "
                              f"({_where(module)}) has no attribute '{attribute}'"
                              f"{closest(attribute, names)}")
        value = getattr(value, part)
    return value


def _import(module_name: str, role: str, reference: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if not _is_prefix(e.name, module_name):
            raise ConfigError(_import_failure(role, reference, e)) from None
        cwd = os.getcwd()
        if cwd in sys.path or "" in sys.path:
            raise ConfigError(
                f"{role} '{reference}': no module named '{module_name}' in the working "
                f"directory {cwd} or the installed packages; run from the directory that "
                f"holds it, or pip install it") from None
        sys.path.append(cwd)  # As `python -m` would find it (the `playbook` script does not).
        importlib.invalidate_caches()
        return _import(module_name, role, reference)
    except Exception as e:  # noqa: BLE001 - the user's module failed while importing.
        raise ConfigError(_import_failure(role, reference, e)) from None


def _is_prefix(missing: str | None, module_name: str) -> bool:
    return bool(missing) and (module_name == missing or module_name.startswith(missing + "."))


def _import_failure(role: str, reference: str, error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (f"{role} '{reference}': importing module '{reference.split(':')[0]}' failed with "
            f"{type(error).__name__}: {lines[-1] if lines else ''}; fix the module or its "
            f"environment")


def _where(module) -> str:
    return getattr(module, "__file__", None) or "a namespace package"


def load_trainer(reference: str) -> Any:
    """The trainer function, checked to accept `(config, workdir)`."""
    trainer = load(reference, "trainer")
    if not callable(trainer):
        raise ConfigError(f"trainer '{reference}' is a {type(trainer).__name__}, not a function; "
                          f"name a function train_and_evaluate(config, workdir)")
    try:
        signature = inspect.signature(trainer)
    except (TypeError, ValueError):
        return trainer  # A builtin or C function: its call will tell.
    try:
        signature.bind(object(), "workdir")
    except TypeError:
        raise ConfigError(f"trainer '{reference}' has the signature {signature}, but playbook "
                          f"calls it as {reference.split(':')[1]}(config, workdir); give it "
                          f"exactly those two parameters") from None
    return trainer


def load_workload(reference: str) -> Any:
    """An instance of the workload class `reference` names, checked against the protocol.

    Its `name` is set to `reference`, which identifies its compiled programs.
    """
    cls = load(reference, "workload")
    if not inspect.isclass(cls):
        raise ConfigError(f"workload '{reference}' is a {type(cls).__name__}, not a class; name "
                          f"a class with {', '.join(WORKLOAD_ATTRIBUTES + WORKLOAD_METHODS)} "
                          f"(playbook/workloads/base.py)")
    _check_members(reference, cls, WORKLOAD_METHODS)
    try:
        workload = cls()
    except Exception as e:  # noqa: BLE001 - the user's constructor.
        raise ConfigError(f"workload class '{reference}' cannot be created without arguments: "
                          f"{type(e).__name__}: {e}; the workload protocol calls {cls.__name__}()"
                          ) from None
    _check_members(reference, workload, WORKLOAD_ATTRIBUTES)
    _check_metrics(reference, workload)
    try:
        workload.name = reference
    except AttributeError:
        pass  # A read-only name: the class's own.
    return workload


def _check_members(reference: str, obj: Any, names: tuple[str, ...]) -> None:
    missing = [m for m in names if not hasattr(obj, m)
               or (m in WORKLOAD_METHODS and not callable(getattr(obj, m)))]
    if missing:
        members = WORKLOAD_ATTRIBUTES + WORKLOAD_METHODS
        raise ConfigError(f"workload class '{reference}' lacks {', '.join(missing)} of the "
                          f"workload protocol; a workload defines {', '.join(members)} "
                          f"(see playbook/workloads/base.py)")


def _check_metrics(reference: str, workload: Any) -> None:
    goals = workload.metric_goals
    if not isinstance(goals, Mapping) or not goals:
        raise ConfigError(f"workload '{reference}': metric_goals must map each metric of "
                          f"eval_metrics to 'minimize' or 'maximize', got {goals!r}")
    for name, goal in goals.items():
        if goal not in GOALS:
            raise ConfigError(f"workload '{reference}': metric_goals['{name}'] is {goal!r}; "
                              f"valid: {', '.join(GOALS)}")
    if workload.default_metric not in goals:
        raise ConfigError(f"workload '{reference}': default_metric "
                          f"{workload.default_metric!r} is not in metric_goals "
                          f"({', '.join(goals)})")


# -- a trainer's metric and its goal ---------------------------------------------------


def trainer_metric_goal(metric: str, study_goal: str, baseline_goal: Any) -> str:
    """The goal of a trainer's `metric`: the study's `goal`, else the baseline's
    `metric_goal`, else read from the metric's name (error, loss: minimize;
    accuracy: maximize). ConfigError if they contradict or none says."""
    for name, goal in (("goal", study_goal), (GOAL_KEY, baseline_goal)):
        if goal and goal not in GOALS:
            raise ConfigError(f"'{name}' must be one of {', '.join(GOALS)}, got {goal!r}")
    if study_goal and baseline_goal and study_goal != baseline_goal:
        raise ConfigError(f"the study's goal '{study_goal}' contradicts the baseline's "
                          f"{GOAL_KEY} '{baseline_goal}'; give one of them")
    named = Goal.from_name(metric)
    goal = study_goal or baseline_goal or (named.direction if named else None)
    if not goal:
        raise ConfigError(f"whether metric '{metric}' is minimized or maximized cannot be read "
                          f"from its name; set {GOAL_KEY}='minimize' or 'maximize' in the "
                          f"baseline (or goal=... in the study)")
    return goal



# -- a trial's length --------------------------------------------------------------------


def length_key(config: Any) -> str | None:
    """The (dotted) config key that holds a trial's length in steps: `max_train_steps`
    for playbook's own loop; for a trainer's config, the key its `length_key` names
    (checked to be an integer key of the config), else the first of LENGTH_KEYS it has
    with an integer value; None when it has none. ConfigError (one line) for a
    `length_key` that names no integer key, or another key than the loop's."""
    declared = config.get(LENGTH_KEY, None) if hasattr(config, "get") else None
    if declared in (None, ""):
        keys = (LOOP_LENGTH_KEY,) if not trainer_of(config) else LENGTH_KEYS
        return next((k for k in keys if config_lib.has(config, k)
                     and _is_int(config_lib.get(config, k))), None)
    if not trainer_of(config) and declared != LOOP_LENGTH_KEY:
        raise ConfigError(f"{LENGTH_KEY} {declared!r}: playbook's own loop trains for "
                          f"'{LOOP_LENGTH_KEY}'; {LENGTH_KEY} names the length key of a "
                          f"trainer's config (trainer='package.module:function')")
    if not isinstance(declared, str) or not config_lib.has(config, declared):
        ints = [k for k in config_lib.flat_keys(config) if _is_int(config_lib.get(config, k))]
        raise ConfigError(f"{LENGTH_KEY} {declared!r} is not a key of the config"
                          f"{closest(str(declared), ints)}; name the integer key that holds "
                          f"a trial's length in steps (integer keys: {', '.join(ints) or 'none'})")
    value = config_lib.get(config, declared)
    if not _is_int(value):
        raise ConfigError(f"{LENGTH_KEY} '{declared}' is {value!r}, not an integer; name the "
                          f"integer key that holds a trial's length in steps")
    return declared


def length(config: Any) -> int | None:
    """A trial's length in steps (`length_key`), None where unknown or not positive."""
    key = length_key(config)
    value = config_lib.get(config, key) if key else None
    return value if _is_int(value) and value > 0 else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- where workers find the code ------------------------------------------------------


def search_path(reference: str) -> str | None:
    """The `sys.path` entry this process imported `reference`'s module from (None for
    a module without a file, or when it is not imported)."""
    module_name = reference.split(":")[0]
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = os.path.dirname(os.path.abspath(file))
    # The file of a package is its __init__.py, one directory further down.
    levels = module_name.count(".") + os.path.basename(file).startswith("__init__.")
    for _ in range(levels):
        path = os.path.dirname(path)
    return path


def search_paths(references: Iterable[str]) -> tuple[str, ...]:
    """`search_path` of each reference, loaded first if needed, without repeats."""
    out: list[str] = []
    for reference in references:
        if reference.split(":")[0] not in sys.modules:
            load(reference, "code")
        path = search_path(reference)
        if path and path not in out:
            out.append(path)
    return tuple(out)


def add_search_paths(paths: Iterable[str]) -> None:
    """Appends `paths` that are missing to `sys.path` (in a worker, before any import)."""
    for path in paths:
        if path not in sys.path:
            sys.path.append(path)


def references(config: Mapping[str, Any] | Any) -> list[str]:
    """The code references of a config: its trainer, and its workload when that is a class."""
    out = []
    trainer = trainer_of(config)
    if trainer:
        out.append(trainer)
    workload = config.get("workload", None) if hasattr(config, "get") else None
    if not trainer and is_reference(workload):
        out.append(workload)
    return out
