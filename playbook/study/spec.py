"""A study's declaration, validated against its baseline before anything runs.

A study config names the **scientific** hyperparameters (values to compare; the
cross product of several keys), the **nuisance** search space (optimised for
each scientific value), optional study-wide overrides of the baseline, the
budget (trials per scientific value), the designer, and the metric and its
goal. Every baseline key not named is **fixed** (Playbook, "Identifying
scientific, nuisance, and fixed hyperparameters").

`StudySpec.from_config` checks everything a user can get wrong in a config and
raises a one-line `ConfigError` naming the key and what would be valid (each
field's parser: spec_parse.py; the checks across fields: here).
`StudySpec.trials` turns designer points into trials. A baseline naming its
own `trainer` (`playbook.external`) is checked by importing that function; its
metric is any name the trainer logs. This module does no I/O beyond loading the
baseline config file (and that import) and trains nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import designers, external
from playbook import search as hp
from playbook.errors import ConfigError, closest
from playbook.study import overrides as overrides_lib
from playbook.study.spec_parse import (
    check_key,
    check_role_key,
    flatten,
    load_baseline,
    parse_budget,
    parse_nuisance,
    parse_previous,
    parse_scientific,
    parse_seed,
    parse_str,
    parse_trial_timeout,
    resolve_metric,
    resolve_trainer_metric,
    stem,
    with_keys,
)


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    """A planned trial of a study: its id, scientific and nuisance values, and its designer
    point. Its record on disk is a `store.TrialRecord`, its outcome a `result.TrialResult`."""

    trial_id: str
    index: int            # position in the designer's sequence
    scientific: dict[str, Any]
    nuisance: dict[str, Any]
    point: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "scientific": self.scientific,
                "nuisance": self.nuisance}


@dataclasses.dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    baseline: ConfigDict
    scientific: tuple[tuple[str, tuple[Any, ...]], ...]
    nuisance: dict[str, hp.Spec | hp.Branches]
    fixed: dict[str, Any]
    budget: int
    designer: str
    metric: str
    goal: str
    seed: int
    previous: dict[str, Any] = dataclasses.field(default_factory=dict)  # the round it continues
    # Seconds a trial may run before it is stopped (None: no limit). A run setting, not part
    # of the study's question: a study resumes under another value (runner.CONTINUABLE).
    trial_timeout: float | None = None

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_config(cls, study: ConfigDict, study_path: str | None = None) -> StudySpec:
        """Parses and validates a study config; ConfigError on the first problem."""
        known = {"name", "description", "baseline", "scientific", "nuisance", "fixed", "budget",
                 "designer", "metric", "goal", "seed", "previous", "trial_timeout"}
        if "workload" in study and "scientific" not in study:
            where = f"'{study_path}'" if study_path else "this config"
            raise ConfigError(
                f"{where} is a baseline config (one trial's settings), not a study; train it "
                f"with `playbook train --config {study_path or 'FILE'} --workdir DIR`, or "
                f"write a study with define(baseline=...) (see configs/studies/)")
        for key in study.keys():
            if key not in known:
                raise ConfigError(f"unknown study field '{key}'{closest(key, known)}; "
                                  f"valid fields: {', '.join(sorted(known))}")
        for key in ("baseline", "scientific", "nuisance", "budget"):
            if key not in study or study[key] is None:
                raise ConfigError(f"the study config has no '{key}'; see configs/studies/ for "
                                  f"examples")
        baseline = load_baseline(study.baseline, study_path)
        fixed = flatten(study.get("fixed", None) or {}, lambda v: False, "fixed")
        for key, value in fixed.items():
            check_role_key(baseline, key, "fixed")
            baseline = config_lib.with_values(baseline, {key: value})
        scientific = parse_scientific(baseline, study.scientific)
        nuisance = parse_nuisance(baseline, study.nuisance)
        for key, _ in scientific:
            if key in nuisance:
                raise ConfigError(f"'{key}' is both scientific and nuisance; give it one role "
                                  f"(compare its values as scientific, or search it as nuisance)")
        for key in fixed:
            if key in nuisance or key in dict(scientific):
                raise ConfigError(f"'{key}' is both fixed and "
                                  f"{'nuisance' if key in nuisance else 'scientific'}; "
                                  f"give it one role")
        spec = cls(
            name=parse_str("name", study.get("name", "")) or stem(study_path),
            description=parse_str("description", study.get("description", "")),
            baseline=baseline,
            scientific=scientific,
            nuisance=nuisance,
            fixed=fixed,
            budget=parse_budget(study.budget),
            designer=parse_str("designer", study.get("designer", "")) or "halton",
            metric="",
            goal="",
            seed=parse_seed(study.get("seed", 0)),
            previous=parse_previous(study.get("previous", None), study_path),
            trial_timeout=parse_trial_timeout(study.get("trial_timeout", None)),
        )
        designers.create(spec.designer, 0, 0)  # Unknown designer names fail here.
        metric, goal = (parse_str("metric", study.get("metric", "")),
                        parse_str("goal", study.get("goal", "")))
        if external.trainer_of(baseline):
            metric, goal = resolve_trainer_metric(baseline, metric, goal)
            # Each trial's trainer reads them from its config (external_trainer).
            spec = dataclasses.replace(spec, baseline=with_keys(
                baseline, {"metric": metric, external.GOAL_KEY: goal}))
        else:
            metric, goal = resolve_metric(baseline, metric, goal)
        spec = dataclasses.replace(spec, metric=metric, goal=goal)
        spec._check_conditions()
        spec._check_branches()
        spec._check_trainable()
        return spec

    @classmethod
    def load(cls, path: str, overrides: Sequence[str] = ()) -> StudySpec:
        """Loads and validates the study config file at `path` with its command-line
        overrides (study fields, baseline keys as `fixed`, nuisance ranges: overrides.py)."""
        return cls.from_config(overrides_lib.load(path, overrides), path)

    # -- the trials -------------------------------------------------------------------

    @property
    def dimensions(self) -> list[hp.Dimension]:
        return hp.dimensions(self.nuisance)

    def scientific_values(self) -> list[dict[str, Any]]:
        """Every combination of scientific values, in declaration order."""
        keys = [k for k, _ in self.scientific]
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(v for _, v in self.scientific))]

    def trials(self, points: Sequence[Sequence[float]], start_index: int = 0) -> list[TrialSpec]:
        """Trials for designer points `start_index, start_index + 1, ...`.

        Paired design: every scientific value is trained at the same nuisance
        points, so comparisons between scientific values are not confounded by
        where each happened to sample (less noisy than independent samples for
        the same budget). Trial ids number points first, then scientific values.
        """
        combos = self.scientific_values()
        dims = self.dimensions
        trials = []
        for offset, point in enumerate(points):
            index = start_index + offset
            for s, scientific in enumerate(combos):
                nuisance = hp.assign(dims, point, self.context(scientific))
                trials.append(TrialSpec(trial_id=f"{index * len(combos) + s:04d}", index=index,
                                    scientific=scientific, nuisance=nuisance,
                                    point=tuple(float(u) for u in point)))
        return trials

    def context(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The values a nuisance condition can refer to: every leaf of the baseline by its
        dotted key, overridden by `values` (scientific values, or a trial's row)."""
        context = {key: config_lib.get(self.baseline, key)
                   for key in config_lib.flat_keys(self.baseline)}
        context.update(values or {})
        return context

    def new_designer(self) -> designers.Designer:
        return designers.create(self.designer, len(self.dimensions), self.seed)

    def trial_config(self, trial: TrialSpec) -> ConfigDict:
        """The baseline with the trial's scientific and nuisance values set."""
        values = {**trial.scientific, **trial.nuisance}
        if "metric" in self.baseline:
            # Each trial keeps its best checkpoint by the study's metric.
            values["metric"] = self.metric
        return config_lib.with_values(self.baseline, values)

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "description": self.description,
            "baseline": config_lib.to_dict(self.baseline),
            "scientific": {k: list(v) for k, v in self.scientific},
            "nuisance": {k: s.to_dict() for k, s in self.nuisance.items()},
            "fixed": self.fixed,
            "budget": self.budget,
            "designer": self.designer,
            "metric": self.metric,
            "goal": self.goal,
            "seed": self.seed,
        }
        if self.previous:  # Absent for a first round, so studies written before still resume.
            d["previous"] = self.previous
        if self.trial_timeout is not None:  # Absent without one, as in older study.json files.
            d["trial_timeout"] = self.trial_timeout
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudySpec:
        """The spec stored by `to_dict`; ConfigError if `d` is not one (e.g. hand-edited)."""
        try:
            return cls(
                name=d["name"], description=d.get("description", ""),
                baseline=ConfigDict(d["baseline"]),
                scientific=tuple((k, tuple(v)) for k, v in d["scientific"].items()),
                nuisance={k: hp.spec_from_any(s) for k, s in d["nuisance"].items()},
                fixed=dict(d.get("fixed", {})), budget=int(d["budget"]), designer=d["designer"],
                metric=d["metric"], goal=d["goal"], seed=int(d["seed"]),
                previous=dict(d.get("previous") or {}),
                trial_timeout=parse_trial_timeout(d.get("trial_timeout")))
        except ConfigError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            detail = (str(e).splitlines() or [""])[0]
            raise ConfigError(f"the stored study spec is malformed ({type(e).__name__}: {detail}); "
                              f"restore study.json or rerun the study config into a new "
                              f"--workdir") from None

    # -- validation helpers -----------------------------------------------------------

    def _possible_values(self, key: str) -> tuple[Any, ...] | None:
        """Values `key` can take in this study, or None when any value is possible."""
        sci = dict(self.scientific)
        if key in sci:
            return sci[key]
        if key in self.nuisance:
            spec = self.nuisance[key]
            if isinstance(spec, (hp.Choice, hp.Discrete)):
                return spec.values
            return None
        return (config_lib.get(self.baseline, key),)

    def _check_trainable(self) -> None:
        """Every scientific value, at the corners and centre of the nuisance cube, must give
        a config that can train (checked without data); the error names the trial's values."""
        from playbook.train import checks, collapse  # Imports JAX and optax.

        dim = len(self.dimensions)
        points = [[0.0] * dim, [0.5] * dim, [1.0] * dim]
        for trial in self.trials(points):
            config = self.trial_config(trial)
            external.length_key(config)  # a declared length_key names an integer key
            if external.trainer_of(config):  # its own code: only its reference can be checked
                external.load_trainer(external.trainer_of(config))
                collapse.declared_in(config)
                continue
            try:
                checks.check(config)
            except ConfigError as e:
                where = " ".join(f"{k}={v!r}" for k, v in {**trial.scientific,
                                                           **trial.nuisance}.items())
                raise ConfigError(f"{e} (in the trial with {where})") from None

    def _check_branches(self) -> None:
        """Every value the branch key takes needs its branch: without one, its trials keep
        the baseline's value, untuned, and the comparison of scientific values is unfair."""
        for key, spec in self.nuisance.items():
            if not isinstance(spec, hp.Branches):
                continue
            possible = self._possible_values(spec.key)
            named = [value for value, _ in spec.branches]
            missing = [value for value in possible or () if value not in named]
            if missing:
                raise ConfigError(
                    f"nuisance '{key}' has no branch for {spec.key}={missing[0]!r} (its "
                    f"hp.branches name {named}): those trials would keep the baseline's "
                    f"{key}={config_lib.get(self.baseline, key)!r} untuned; add a branch for "
                    f"{missing[0]!r}, or declare '{key}' with when={{'{spec.key}': [...]}} if it "
                    f"does not apply to {missing[0]!r}")

    def _check_conditions(self) -> None:
        for key, spec in self.nuisance.items():
            specs = [b for _, b in spec.branches] if isinstance(spec, hp.Branches) else [spec]
            for branch in specs:
                for cond_key, values in branch.when:
                    if cond_key == key:
                        raise ConfigError(f"'{key}' has a condition on itself")
                    check_key(self.baseline, cond_key, f"the condition of '{key}'")
                    possible = self._possible_values(cond_key)
                    if possible is None:
                        continue
                    for value in values:
                        if value not in possible:
                            raise ConfigError(
                                f"'{key}' is conditioned on {cond_key}={value!r}, a value "
                                f"'{cond_key}' never takes in this study; its values: "
                                f"{list(possible)}")
