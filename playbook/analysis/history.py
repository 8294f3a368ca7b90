"""`playbook history`: the chain of rounds a study belongs to, as text.

Per round: its directory and name, the question (scientific values, metric),
what it counts (the trials of the search by status, the seed reruns apart: analysis.tally),
the best trial of the search per scientific value, what changed from the round before
and why (study.json's `previous`), and the decision taken on it
(decisions.jsonl). Reads the rounds (rounds.chain) and writes nothing.
"""

from __future__ import annotations

import os

from playbook.analysis import load as load_lib
from playbook.analysis import rounds, tally


def round_lines(study_dir: str, number: int, marked: bool) -> list[str]:
    """The lines of one round."""
    study = load_lib.Study.load(study_dir)
    spec = study.spec
    question = ", ".join(f"{k} in {list(v)}" for k, v in spec.scientific)
    count = tally.of(study)
    lines = [f"round {number}: {spec.name} ({study.root}){'  <- this study' if marked else ''}",
             f"  question: {question}; {spec.metric} ({spec.goal}); nuisance "
             f"{', '.join(spec.nuisance) or 'none'}; {spec.designer}, budget {spec.budget}",
             f"  counted: {count.study.text()}"]
    for label in study.labels:
        best = count[label]
        row = study.trials[study.trials["trial_id"] == best.best_trial]
        text = ("no finished trial" if row.empty else
                f"{best.best_objective:.4g} (trial {best.best_trial}, step "
                f"{row.iloc[0]['best_step']} of {row.iloc[0]['max_train_steps']})")
        lines.append(f"  best {label}: {text}")
    for change in spec.previous.get("changes", []):
        what = "kept" if change.get("kept") else change.get("change", "")
        lines.append(f"  changed {change.get('key')}: {what} "
                     f"({change.get('finding')}: {change.get('reason')})")
    decision = rounds.latest_decision(study.root)
    if decision:
        adopted = " ".join(f"{k}={v}" for k, v in decision["adopted"].items())
        lines.append(f"  decision: adopted {adopted} (trial {decision['trial_id']}, "
                     f"{decision['metric']} {decision['objective']:.4g}; verdict "
                     f"{decision['comparison']['verdict']})")
    else:
        lines.append("  decision: none recorded")
    return lines


def history_text(study_dir: str) -> str:
    """The whole chain of rounds through `study_dir`, first to last."""
    here = os.path.abspath(study_dir)
    chain = rounds.chain(study_dir)
    lines = [f"{len(chain)} round(s)"]
    for number, root in enumerate(chain, start=1):
        lines += round_lines(root, number, root == here)
    return "\n".join(lines)
