"""How the chance rule (playbook/train/collapse.py) did on real studies: for each study
directory, its trials counted by what the rule recorded, against a reference judged
from the curves by a different criterion, with the rule's false positives (recorded at
chance, yet clearly learned) and false negatives (recorded done, yet clearly at chance).

    python experiments/validity/chance_table.py runs/study_a runs/study_b ...

The reference, per trial: the mean of the study metric over the evaluations of the last
quarter of the steps it ran, as a share of the way from chance to a perfect value (0
for a loss, an error or a squared error; 1 for an accuracy). Below 2% of the way it is
*at chance*, from 10% it *learned*, in between *borderline* (counted apart, neither
right nor wrong); a trial stopped early with no evaluation in its last quarter (a
collapse caught by its training loss) is *unjudged*. Trials whose chance level is
unknown are counted apart too. A trial that diverged numerically (non_finite,
loss_explosion) is outside the rule.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from playbook import trial_files

AT_CHANCE, LEARNED = 0.02, 0.10  # shares of the way from chance to perfect


def reference(values: np.ndarray, chance: float, maximize: bool) -> str:
    """'at chance', 'learned' or 'borderline' for the last-quarter values of a metric."""
    perfect = 1.0 if maximize else 0.0
    gap = abs(perfect - chance)
    if not len(values) or gap == 0:
        return "borderline"
    gain = (np.mean(values) - chance) / gap * (1 if maximize else -1)
    return "at chance" if gain < AT_CHANCE else "learned" if gain >= LEARNED else "borderline"


def trial_rows(study_dir: str) -> list[dict]:
    spec = json.load(open(os.path.join(study_dir, "study.json")))["spec"]
    metric, maximize = spec["metric"], spec["goal"] == "maximize"
    rows = []
    for trial_id in sorted(os.listdir(os.path.join(study_dir, "trials"))):
        path = os.path.join(study_dir, "trials", trial_id)
        result = trial_files.read_result(path)
        if result is None or result.status == "failed":
            continue
        records = trial_files.read_records(trial_files.path(path, trial_files.METRICS_FILE))
        curve = [(r["step"], r[metric]) for r in records
                 if r.get(metric) is not None and math.isfinite(r[metric])]
        last = result.steps or result.max_train_steps
        values = np.array([v for s, v in curve if s > 0.75 * last], dtype=float)
        recorded = ("at chance" if result.reason in ("at_chance", "collapsed") else
                    "diverged" if result.status == "diverged" else "done")
        rows.append(dict(
            trial=trial_id, recorded=recorded, reason=result.reason or "",
            chance=result.chance,
            reference=(None if result.chance is None else "unjudged" if not len(values) else
                       reference(values, result.chance, maximize))))
    return rows


def summary(study_dir: str) -> dict:
    rows = trial_rows(study_dir)
    known = [r for r in rows if r["chance"] is not None and r["recorded"] != "diverged"]
    return dict(
        study=os.path.basename(os.path.normpath(study_dir)),
        trials=len(rows), unknown=sum(r["chance"] is None for r in rows),
        diverged=sum(r["recorded"] == "diverged" for r in rows),
        at_chance=sum(r["reason"] == "at_chance" for r in rows),
        collapsed=sum(r["reason"] == "collapsed" for r in rows),
        done=sum(r["recorded"] == "done" for r in rows),
        ref_at_chance=sum(r["reference"] == "at chance" for r in known),
        ref_learned=sum(r["reference"] == "learned" for r in known),
        borderline=sum(r["reference"] == "borderline" for r in known),
        unjudged=sum(r["reference"] == "unjudged" for r in known),
        false_positives=[r["trial"] for r in known
                         if r["recorded"] == "at chance" and r["reference"] == "learned"],
        false_negatives=[r["trial"] for r in known
                         if r["recorded"] == "done" and r["reference"] == "at chance"],
        chance=next((r["chance"] for r in rows if r["chance"] is not None), math.nan))


def main(study_dirs: list[str]) -> None:
    print("| study | chance | trials | done | at_chance | collapsed | diverged (numeric) | "
          "reference: at chance / learned / borderline / unjudged | false positives | "
          "false negatives |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for study_dir in study_dirs:
        s = summary(study_dir)
        chance = "unknown" if math.isnan(s["chance"]) else f"{s['chance']:.4g}"
        print(f"| {s['study']} | {chance} | {s['trials']} | {s['done']} | {s['at_chance']} | "
              f"{s['collapsed']} | {s['diverged']} | {s['ref_at_chance']} / "
              f"{s['ref_learned']} / {s['borderline']} / {s['unjudged']} | "
              f"{len(s['false_positives'])} {' '.join(s['false_positives'])} | "
              f"{len(s['false_negatives'])} {' '.join(s['false_negatives'])} |")


if __name__ == "__main__":
    main(sys.argv[1:])
