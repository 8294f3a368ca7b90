"""Creating, resuming and running a study's trials.

`prepare` creates the study directory from a validated spec, or checks that the
spec matches the one already there (a larger budget or a new designer continues
the study), and writes the trials the designer proposes (see generate.py). `run`
trains the pending trials through an executor (see executors.py) until the
budget is spent. `rerun` adds seed reruns of the best trials to measure trial variance.
Nothing here knows about JAX: a trial is one call of `run_trial`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from playbook import config as config_lib
from playbook import external, trial_files
from playbook.errors import ConfigError, storage_fault
from playbook.goal import Goal
from playbook.study import generate
from playbook.study.spec import StudySpec, TrialSpec
from playbook.study.store import StudyStore, TrialRecord, read_json

VERSION = 1
# Fields of a study that may change on an existing directory: these continue it
# (trial_timeout is how trials run, not what the study asks).
CONTINUABLE = ("budget", "designer", "name", "description", "trial_timeout")


def check(store: StudyStore, spec: StudySpec) -> None:
    """What `prepare` checks, writing nothing: ConfigError unless `spec` can create or
    continue the study in `store`."""
    if not store.exists() and os.path.exists(trial_files.path(store.root, trial_files.CONFIG_FILE)):
        raise ConfigError(f"'{store.root}' holds a single trial (config.json), not a study; "
                          f"give `playbook study` a new --workdir")
    if store.exists():
        _check_continuation(store, store.read_study()["spec"], spec)
    else:
        _check_existing_trials(store, spec)


def prepare(store: StudyStore, spec: StudySpec, source: dict[str, Any] | None = None
            ) -> StudySpec:
    """Creates or resumes the study in `store` for `spec`; returns the spec in force.

    `source` ({"config": absolute path, "overrides": [...]}) is how the study was last
    run: the report and findings print the command that continues it.
    """
    if not store.exists():
        check(store, spec)  # before study_lock creates the directory
    with store.study_lock():
        if store.exists():
            study = store.read_study()
            _check_continuation(store, study["spec"], spec)
        else:
            _check_existing_trials(store, spec)
            study = {"version": VERSION, "created": time.time()}
        if "spec" in study:  # The name and description given at creation stay.
            spec = dataclasses.replace(spec, name=study["spec"]["name"],
                                       description=study["spec"]["description"])
        study["spec"] = spec.to_dict()
        study["designer"] = {"name": spec.designer, "seed": spec.seed}
        if source is not None:
            study["source"] = source
        if not generate.adaptive(spec):
            generate.generate_sequence(store, spec, spec.budget)
        study["designer"]["drawn"] = generate.points_drawn(store, spec)
        store.write_study(study)
    return spec


def _check_continuation(store: StudyStore, old: dict, spec: StudySpec) -> None:
    new = json.loads(json.dumps(spec.to_dict()))
    changed = sorted(k for k in set(old) | set(new)
                     if k not in CONTINUABLE and old.get(k) != new.get(k))
    if changed:
        detail = _fixed_change(old.get("fixed") or {}, new["fixed"]) if "fixed" in changed else ""
        raise ConfigError(
            f"the study config differs from {store.study_json} in: {', '.join(changed)}"
            f"{detail}; only a larger budget or another designer continues a study: use a new "
            f"--workdir")
    if new["budget"] < old["budget"]:
        raise ConfigError(f"budget {new['budget']} is smaller than the study's {old['budget']} "
                          f"in {store.study_json}; give a budget of at least {old['budget']}")


def _fixed_change(old: dict, new: dict) -> str:
    """' (fixed max_train_steps=20 in the study, 200 now)': the fixed keys that differ."""
    def show(d: dict, k: str) -> str:
        return repr(d[k]) if k in d else "unset"

    items = [f"{k}={show(old, k)} in the study, {show(new, k)} now"
             for k in sorted(set(old) | set(new)) if show(old, k) != show(new, k)]
    return f" (fixed {'; '.join(items)})" if items else ""


def _check_existing_trials(store: StudyStore, spec: StudySpec) -> None:
    """Trials in a directory without study.json (deleted, or never written) are adopted
    only if `spec` would have written the same config.json for them."""
    for trial_id in store.trial_ids():
        path = store.trial_dir(trial_id)
        meta = trial_files.read_record(path)
        stored = trial_files.read_config(path)
        if meta is None or stored is None:
            continue  # written again by this config
        try:
            trial = TrialSpec(trial_id, int(meta.get("index", -1)), dict(meta["scientific"]),
                          dict(meta["nuisance"]), tuple(meta.get("point", ())))
            config = spec.trial_config(trial)
            if "seed" in config:
                config = config_lib.with_values(config, {"seed": meta["seed"]})
            expected = json.loads(json.dumps(config_lib.to_dict(config)))
        except (ConfigError, KeyError, TypeError, ValueError):
            expected = {}
        stored, expected = config_lib.flatten(stored), config_lib.flatten(expected)
        differing = sorted(k for k in set(stored) | set(expected)
                           if stored.get(k) != expected.get(k))
        if differing:
            raise ConfigError(
                f"{store.study_json} is missing and {path}/config.json was not written by this "
                f"study config (it differs in: {', '.join(differing[:5])}); run this config "
                f"with a new --workdir, or restore study.json")


def source(config_path: str, overrides: Sequence[str]) -> dict[str, Any]:
    """How a study is run, for `prepare`: the config file's absolute path and overrides."""
    file, colon, arg = config_path.partition(":")
    return {"config": os.path.abspath(file) + colon + arg, "overrides": list(overrides)}


def continue_command(study_dir: str, **overrides: Any) -> str:
    """The `playbook study` command that continues the study in `study_dir`, as it was last
    run (study.json's source) with `overrides` (e.g. budget=12) replacing its own."""
    store = StudyStore(study_dir)
    given = (read_json(store.study_json) or {}).get("source") or {}
    kept = [o for o in given.get("overrides", ())
            if o.partition("=")[0].removeprefix("--config.") not in overrides]
    args = ["playbook", "study", "--config", given.get("config") or "STUDY_CONFIG",
            "--workdir", store.root, *kept, *(f"--config.{k}={v}" for k, v in overrides.items())]
    return shlex.join(args)


def load_spec(store: StudyStore) -> StudySpec:
    return StudySpec.from_dict(store.read_study()["spec"])


# -- running -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Unit:
    """What an executor hands one worker: trials to train, together when `size` > 1.

    `size` is how many share one compiled program (`playbook.train.batched`),
    or 'auto' (decided in the worker, which sees the device). `compilation_cache`
    is a directory for JAX's persistent compilation cache, or None.
    `import_paths`: directories the worker adds to `sys.path` to import the
    study's own trainer or workload class (`external.search_paths`).
    """

    trial_ids: tuple[str, ...]
    size: int | str = 1
    compilation_cache: str | None = None
    import_paths: tuple[str, ...] = ()


def run_unit(study_dir: str, unit: Unit) -> dict[str, str]:
    """Trains `unit`'s trials in this process; returns {trial id: status}. The executors
    call only this (and it only `run_trial` or `run_group`)."""
    external.add_search_paths(unit.import_paths)
    if unit.compilation_cache:
        from playbook.train import loop

        loop.use_compilation_cache(unit.compilation_cache)
    if unit.size == 1 or len(unit.trial_ids) == 1:
        return {t: run_trial(study_dir, t) for t in unit.trial_ids}
    return run_group(study_dir, unit.trial_ids, unit.size)


def run_trial(study_dir: str, trial_id: str) -> str:
    """Trains one trial in this process unless another runner holds it; returns its status.

    A trial that raises is recorded `failed` with its traceback (result.json and
    error.txt); the exception does not escape.
    """
    store = StudyStore(study_dir)
    with store.claim(trial_id) as mine:
        if not mine:
            return "busy"
        status = _finished_status(store, trial_id)
        if status is not None:
            return status
        store.record_attempt(trial_id)
        return _train_alone(store, trial_id)


def run_group(study_dir: str, trial_ids: Sequence[str], size: int | str) -> dict[str, str]:
    """Trains `trial_ids` `size` at a time in one compiled program each (`size` 'auto':
    as many as `group_size.auto_group_size` allows); trials another runner holds are
    'busy'. Each member ends exactly as `run_trial` would end it."""
    from playbook.train import batched, group_size

    store = StudyStore(study_dir)
    statuses: dict[str, str] = {}
    with contextlib.ExitStack() as claims:
        mine = []
        for trial_id in trial_ids:
            if not claims.enter_context(store.claim(trial_id)):
                statuses[trial_id] = "busy"
            elif (status := _finished_status(store, trial_id)) is not None:
                statuses[trial_id] = status
            else:
                mine.append(trial_id)
        configs = {t: _trial_config(store, t) for t in mine}
        good = [t for t in mine if configs[t] is not None]
        if good and size == "auto":
            try:
                size = group_size.auto_group_size(configs[good[0]])
            except Exception:  # noqa: BLE001 - the trial's own run reports its error.
                size = 1
        for start in range(0, len(good), int(size)):
            chunk = good[start:start + int(size)]
            for trial_id in chunk:
                store.record_attempt(trial_id)
            if len(chunk) > 1:
                try:
                    results = batched.train_group([configs[t] for t in chunk],
                                                  [store.trial_dir(t) for t in chunk])
                    statuses.update({t: r.status for t, r in zip(chunk, results)})
                except Exception as e:  # noqa: BLE001 - each member then ends on its own.
                    if storage_fault(e) is not None:
                        raise  # the disk, not the trials (see _train_alone)
                    traceback.print_exc()
            for trial_id in chunk:
                if trial_id not in statuses:
                    statuses[trial_id] = _finished_status(store, trial_id) or _train_alone(
                        store, trial_id)
        for trial_id in mine:
            if trial_id not in statuses:  # a config that could not be read: fails alone
                store.record_attempt(trial_id)
                statuses[trial_id] = _train_alone(store, trial_id)
    return statuses


def _finished_status(store: StudyStore, trial_id: str) -> str | None:
    return trial_files.status(store.trial_dir(trial_id))


def _trial_config(store: StudyStore, trial_id: str):
    return config_lib.from_dict(trial_files.read_config(store.trial_dir(trial_id)) or {}) or None


def _train_alone(store: StudyStore, trial_id: str) -> str:
    """Trains a claimed trial; an exception is recorded as its failure, not raised."""
    trial_dir = store.trial_dir(trial_id)
    try:
        config = _trial_config(store, trial_id)
        if not config:
            raise ConfigError(f"{trial_dir}/config.json is missing or unreadable")
        from playbook.train.loop import train_and_evaluate

        return train_and_evaluate(config, trial_dir, progress=False).status
    except Exception as e:  # noqa: BLE001 - a failing trial is a result; the study goes on.
        if storage_fault(e) is not None:
            raise  # The disk, not the trial: it stays unfinished and resumes once fixed.
        text = traceback.format_exc()
        trial_files.write_error(trial_dir, text)
        trial_files.write_result(trial_dir, trial_files.failed(text, trial_files.read_config(
            trial_dir)))
        return "failed"


def reset_failed(store: StudyStore, spec: StudySpec) -> list[str]:
    """Makes failed trials pending again, keeping their old result beside them."""
    reset = []
    for record in store.trials(spec.metric):
        if record.status == "failed":
            trial_files.set_aside_result(store.trial_dir(record.trial_id),
                                         store.attempts(record.trial_id))
            reset.append(record.trial_id)
    return reset


def pending(store: StudyStore, spec: StudySpec) -> list[TrialRecord]:
    return [r for r in store.trials(spec.metric) if r.status == "pending"]


@dataclasses.dataclass(frozen=True)
class RunSummary:
    statuses: dict[str, str]  # trial id -> status after this run


def run(store: StudyStore, spec: StudySpec, executor, *,
        on_update: Callable[[], None] | None = None, trials_per_program: int | str = 1,
        compilation_cache: str | None = None) -> RunSummary:
    """Runs every pending trial (and, for adaptive designers, new ones up to the budget).

    With `trials_per_program` K > 1 (or 'auto'), pending trials that can share a
    compiled program (`batched.group_key`) go to the executor in groups of up to
    K, spread evenly over its slots; each group trains in one program.
    """
    statuses: dict[str, str] = {}
    adaptive = generate.adaptive(spec)
    while True:
        todo = [r.trial_id for r in pending(store, spec)]
        if adaptive and len(todo) < executor.slots:
            generate.generate_adaptive(store, spec,
                                       max(1, executor.slots // generate.num_combos(spec)))
            todo = [r.trial_id for r in pending(store, spec)]
        if not todo:
            break
        units = make_units(store, todo, trials_per_program, executor.slots, compilation_cache,
                           import_paths(spec))
        ran = executor.map(store.root, units, on_update)
        statuses.update(ran)
        if all(status == "busy" for status in ran.values()):
            # Every pending trial belongs to another runner; let them finish.
            break
    return RunSummary(statuses)


def make_units(store: StudyStore, trial_ids: Sequence[str], trials_per_program: int | str,
               slots: int, compilation_cache: str | None = None,
               import_paths: tuple[str, ...] = ()) -> list[Unit]:
    """`trial_ids` as executor units: one trial each, or groups of one program structure
    (in trial order), each at most `trials_per_program` and at most an even share of
    the group over `slots` workers, so that every worker gets work. Trials that
    cannot share a program (an external trainer's) are units of their own."""
    if trials_per_program == 1:
        return [Unit((t,), 1, compilation_cache, import_paths) for t in trial_ids]
    from playbook.train.batched import group_key
    from playbook.train.group_size import AUTO_ACCELERATOR_MAX

    groups: dict[str, list[str]] = {}
    for trial_id in trial_ids:
        config = trial_files.read_config(store.trial_dir(trial_id)) or {}
        key = group_key(config) if config else f"<unreadable {trial_id}>"
        groups.setdefault(key if key is not None else f"<alone {trial_id}>", []).append(trial_id)
    cap = AUTO_ACCELERATOR_MAX if trials_per_program == "auto" else int(trials_per_program)
    units = []
    for members in groups.values():
        share = min(cap, -(-len(members) // max(1, slots)))
        for start in range(0, len(members), share):
            units.append(Unit(tuple(members[start:start + share]), trials_per_program,
                              compilation_cache, import_paths))
    return units


def import_paths(spec: StudySpec) -> tuple[str, ...]:
    """Where this process found the study's own trainers or workload classes (every
    scientific value's), for workers to import them from the same place."""
    refs = {ref for scientific in spec.scientific_values()
            for ref in external.references(config_lib.with_values(spec.baseline, scientific))}
    return external.search_paths(sorted(refs))


def rerun(store: StudyStore, spec: StudySpec, top: int, seeds: int) -> list[str]:
    """Adds `seeds` seed reruns of the `top` best done trials of each scientific value."""
    if top < 1 or seeds < 1:
        raise ConfigError(f"--top and --seeds must be positive, got {top} and {seeds}")
    if not config_lib.has(spec.baseline, "seed"):
        raise ConfigError("seed reruns change the config's 'seed', which the baseline has no "
                          "key for; add a seed that the trainer uses to its config")
    # The user's code must import from here before any rerun is written: a refused command
    # leaves the study directory as it was.
    trainer = external.trainer_of(spec.baseline)
    for reference in external.references(spec.baseline):
        (external.load_trainer if reference == trainer else external.load_workload)(reference)
    records = store.trials(spec.metric)
    goal = Goal.of(spec.goal)
    created = []
    with store.study_lock():
        for scientific in spec.scientific_values():
            done = [r for r in records if r.scientific == scientific and r.repeats is None
                    and r.objective is not None]
            done.sort(key=lambda r: goal.loss(r.objective))
            for original in done[:top]:
                trial = TrialSpec(original.trial_id, original.index, original.scientific,
                              original.nuisance, original.point)
                for j in range(1, seeds + 1):
                    trial_id = f"{original.trial_id}-seed{j}"
                    if os.path.exists(trial_files.path(store.trial_dir(trial_id), trial_files.TRIAL_FILE)):
                        continue
                    generate.write(store, spec, trial, seed=original.seed + j, repeats=original.trial_id,
                           trial_id=trial_id)
                    created.append(trial_id)
    return created


def best_per_scientific(store: StudyStore, spec: StudySpec) -> list[tuple[dict, TrialRecord | None]]:
    """For each scientific value, its best finished trial (or None)."""
    records = store.trials(spec.metric)
    goal = Goal.of(spec.goal)
    out = []
    for scientific in spec.scientific_values():
        done = [r for r in records if r.scientific == scientific and r.objective is not None
                and r.repeats is None]
        out.append((scientific, min(done, key=lambda r: goal.loss(r.objective)) if done else None))
    return out


def describe(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in values.items())

