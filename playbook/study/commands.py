"""What `playbook study --dry_run` and `playbook rerun` print about a study: the trials
a run would train (and, on an existing study, whether it continues or refuses) and the
seeds' spread of rerun trials. Pure text from a spec and a study directory; nothing here
writes or trains.
"""

from __future__ import annotations

import json
import statistics

from playbook import trial_files
from playbook.errors import ConfigError
from playbook.study import runner


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
    """Per rerun trial: its seeds' mean and standard deviation (the trial variance)."""
    records = store.trials(spec.metric)
    lines = [f"trial variance ({spec.metric}, {spec.goal}), each trial with its seed reruns:"]
    for original in records:
        group = [original] + [r for r in records if r.repeats == original.trial_id]
        if len(group) == 1:
            continue
        values = [r.objective for r in group if r.objective is not None]
        name = f"  {runner.describe(original.scientific)} trial {original.trial_id}"
        if len(values) < 2:
            lines.append(f"{name}: {len(values)} of {len(group)} runs done; no spread yet")
            continue
        lines.append(f"{name}: mean {statistics.mean(values):.4g} ± "
                     f"{statistics.stdev(values):.2g} (std over {len(values)} seeds; min "
                     f"{min(values):.4g}, max {max(values):.4g})")
    return "\n".join(lines)


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
