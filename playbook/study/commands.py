"""What `playbook study --dry_run`, `playbook status`, `playbook rerun` and the end of
`playbook study` print about a study: the trials a run would train (and, on an existing
study, whether it continues or refuses), the counts and best trials (through
analysis.tally, as every view counts them) and the seeds' spread of rerun trials. Pure
text from a spec and a study directory; nothing here writes or trains.
"""

from __future__ import annotations

import json
import math
import statistics

from playbook import trial_files
from playbook.errors import ConfigError
from playbook.study import runner
from playbook.study.store import StudyStore


def dry_run(store, spec, output_format: str) -> int:
    """Prints the trials the study would run; on an existing study, says whether the real
    run would continue it (each trial with its state on disk) or refuse, and why."""
    existing = store.exists()
    try:
        runner.check(store, spec)
    except ConfigError as e:
        raise ConfigError(f"the study would not run: {e}") from None
    designer = spec.new_designer()
    trials = spec.trials(designer.suggest(spec.budget))
    states = {}
    if existing:
        records = {r.trial_id: r for r in store.trials(spec.metric)}
        states = {t.trial_id: records[t.trial_id].status if t.trial_id in records else "new"
                  for t in trials}
    if output_format == "json":
        rows = [{**t.to_dict(), **({"state": states[t.trial_id]} if existing else {})}
                for t in trials]
        print(json.dumps(rows, indent=1))
        return 0
    if existing:
        tally = {s: list(states.values()).count(s) for s in dict.fromkeys(states.values())}
        others = sum(r.status in trial_files.UNFINISHED for r in records.values()
                     if r.trial_id not in states)
        also = f", and {others} unfinished seed reruns not listed" if others else ""
        print(f"# {store.root} holds this study: the run continues it "
              f"({', '.join(f'{n} {s}' for s, n in tally.items())}{also}); finished trials "
              f"are kept, the others train")
    print(trials_table(spec, trials, states))
    return 0


def seed_spread(store, spec) -> str:
    """Per rerun trial: its seed reruns' mean and standard deviation (the trial variance),
    the trial itself not counted, as `playbook compare` counts them (analysis.tally)."""
    from playbook.analysis import load as load_lib
    from playbook.analysis import tally

    trials = load_lib.load_study(store.root, spec)
    count = tally.tally(trials, spec.goal, [runner.describe(s) for s in spec.scientific_values()])
    best = {c.best_trial for c in count.values.values()}
    lines = [f"trial variance ({spec.metric}, {spec.goal}): each rerun trial's seed reruns, the "
             f"trial itself not counted (it was selected as the best of its value; compare "
             f"counts the same)"]
    for _, row in load_lib.originals(trials).iterrows():
        trial_id = row["trial_id"]
        group = trials[trials["repeats"] == trial_id]
        if group.empty:
            continue
        values, infeasible = tally.rerun_values(trials, trial_id)
        selected = (f"{row['status']}, not counted" if row["status"] != "done" else
                    f"selected at {row['objective']:.4g}, not counted"
                    + ("; its value's best trial, as in compare" if trial_id in best else ""))
        name = f"  {row['label']} trial {trial_id} ({selected})"
        bad = f", {infeasible} infeasible" if infeasible else ""
        if len(values) < 2:
            lines.append(f"{name}: {len(values)} of {len(group)} seed reruns done{bad}; "
                         f"no spread yet")
            continue
        lines.append(f"{name}: mean {statistics.mean(values):.4g} ± "
                     f"{statistics.stdev(values):.2g} (std over {len(values)} seed reruns{bad}; "
                     f"min {min(values):.4g}, max {max(values):.4g})")
    lines.append(f"counted: {count.study.text()}")
    return "\n".join(lines)


def status(study_dir: str) -> int:
    """`playbook status`: per scientific value, the trials of the search by status, the seed
    reruns apart (done/created) and the best trial of the search (analysis.tally)."""
    from playbook.analysis import load as load_lib
    from playbook.analysis import tally

    store = StudyStore(study_dir)
    spec = runner.load_spec(store)
    print(f"study '{spec.name}' in {store.root}: metric {spec.metric} ({spec.goal}), "
          f"budget {spec.budget} per scientific value, designer {spec.designer}")
    print(f"{'scientific':<32} {'pending':>7} {'running':>7} {'done':>5} {'diverged':>8} "
          f"{'failed':>6} {'reruns':>7}  best")
    labels = [runner.describe(s) for s in spec.scientific_values()]
    count = tally.tally(load_lib.load_study(store.root, spec), spec.goal, labels)
    for label in labels:
        c = count[label]
        best = f"{c.best_objective:.4g} ({c.best_trial})" if c.best_trial else "-"
        reruns = f"{c.reruns['done']}/{c.rerun_trials}" if c.rerun_trials else "-"
        print(f"{label:<32} {c.search['pending']:>7} {c.search['running']:>7} "
              f"{c.search['done']:>5} {c.search['diverged']:>8} {c.search['failed']:>6} "
              f"{reruns:>7}  {best}")
    print(f"counted: {count.study.text()}; best: the best done trial of the search")
    if count.study.rerun_trials:
        print("(reruns: seed reruns done/created, apart from the trials of the search)")
    return 0


def best_table(store, spec) -> str:
    """The lines `playbook study` ends with: each scientific value's best trial of the
    search, with its step and nuisance values, and what was counted."""
    from playbook.analysis import load as load_lib
    from playbook.analysis import tally

    trials = load_lib.load_study(store.root, spec)
    labels = [runner.describe(s) for s in spec.scientific_values()]
    count = tally.tally(trials, spec.goal, labels)
    lines = [f"best trial per scientific value ({spec.metric}, {spec.goal}):"]
    for label in labels:
        c = count[label]
        if c.best_trial is None:
            lines.append(f"  {label}: no finished trial")
            continue
        row = trials[trials["trial_id"] == c.best_trial].iloc[0]
        nuisance = {k: row[k] for k in spec.nuisance if not _missing(row[k])}
        lines.append(f"  {label}: {c.best_objective:.4g} (trial {c.best_trial}, step "
                     f"{row['best_step']}; {runner.describe(nuisance)})")
    lines.append(f"counted: {count.study.text()}")
    return "\n".join(lines)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def trials_table(spec, trials, states: dict[str, str] | None = None) -> str:
    lines = [f"# study '{spec.name}': {len(trials)} trials "
             f"({spec.budget} per scientific value), metric {spec.metric} ({spec.goal}), "
             f"designer {spec.designer}, seed {spec.seed}"]
    if spec.fixed:  # the study file's fixed={...} and the command line's baseline keys
        lines.append(f"# fixed: {' '.join(f'{k}={_fmt(v)}' for k, v in spec.fixed.items())}")
    for trial in trials:
        sci = " ".join(f"{k}={_fmt(v)}" for k, v in trial.scientific.items())
        nui = " ".join(f"{k}={_fmt(v)}" for k, v in trial.nuisance.items())
        state = f"  [{states[trial.trial_id]}]" if states else ""
        lines.append(f"{trial.trial_id}  {sci}  |  {nui}{state}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
