"""What `playbook report`, `compare`, `adopt`, `next` and `history` do: thin shells that
load a study, call the analysis and print to stdout. Each returns an exit status; bad
input raises ConfigError, which the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from playbook.analysis import decisions, diagnostics, rounds, tally
from playbook.analysis import history as history_lib
from playbook.analysis import load as load_lib
from playbook.analysis import report as report_lib


def report(study_dir: str | os.PathLike, findings: bool = True) -> int:
    """Writes STUDY_DIR/report/index.html and prints what it counted and the findings
    (`findings=False`: the path alone)."""
    study = load_lib.Study.load(study_dir)
    found = diagnostics.diagnose(study)
    path = report_lib.write_report(study, found)
    if findings:
        print(f"study {study.spec.name}, counted: {tally.of(study).study.text()}")
        print(f"findings for study {study.spec.name}:")
        print(report_lib.findings_text(found))
    print(f"report: {path}")
    return 0


def compare(study_dir: str | os.PathLike) -> int:
    """Prints, for each scientific value, the difference from the baseline over seed reruns
    (the selecting trials excluded) with its interval and verdict, and the expected best
    objective after n trials."""
    print(decisions.comparison_text(load_lib.Study.load(study_dir)))
    return 0


def adopt(study_dir: str | os.PathLike, value: Sequence[str]) -> int:
    """Records the adoption of a scientific value (KEY=VALUE strings) and writes the next
    round's baseline config."""
    study = load_lib.Study.load(study_dir)
    record = decisions.adopt(study, value, diagnostics.diagnose(study))
    comparison = decisions.Comparison.from_evidence(record["comparison"])
    adopted = " ".join(f"{k}={v}" for k, v in record["adopted"].items())
    print(f"adopted {adopted} (trial {record['trial_id']}, {study.metric} "
          f"{record['objective']:.4g})")
    print(f"  evidence: {comparison.sentence()}")
    if comparison.verdict in ("no_reruns", "inconclusive", "worse"):
        print(f"  note: the evidence does not show that it beats the "
              f"{'reference' if comparison.reference else 'baseline'} beyond trial variance "
              f"(Playbook: adopt a change only if it does, and is worth its complexity)")
    for finding in record["findings"]:
        print(f"  open finding [{finding['severity']}] {finding['code']}: {finding['message']}")
    print(f"  decision appended to {os.path.join(study.root, decisions.DECISIONS_FILE)}")
    print(f"  next baseline: {record['next_baseline']}")
    print(f"  next round: playbook train --config {shlex.quote(record['next_baseline'])} "
          f"--workdir runs/next_baseline")
    return 0


def next_round(study_dir: str | os.PathLike, out: str | None = None,
               adopt: Sequence[str] = ()) -> int:
    """Writes the next round's study config and prints its changes."""
    written = rounds.write_next(os.fspath(study_dir), out, adopt)
    drafted = written.draft
    print(f"round {drafted.round}: {written.config}")
    print(f"  baseline: {written.baseline}" + (
        f" (adopted {' '.join(f'{k}={v}' for k, v in written.decision['adopted'].items())})"
        if written.decision else " (the study's baseline; nothing adopted)"))
    changed = [c for c in drafted.changes if not c.kept]
    print(f"  {len(changed)} change(s):" if changed else "  no change: the search space, "
          "budget and training length stay")
    for change in drafted.changes:
        print(f"  {'=' if change.kept else '*'} {change.line()}")
    print(f"  designer {drafted.spec.designer}, budget {drafted.spec.budget} per scientific value")
    print(f"  run it: playbook study --config {shlex.quote(os.path.relpath(written.config))} "
          f"--workdir {shlex.quote(os.path.relpath(written.workdir))}")
    return 0


def history(study_dir: str | os.PathLike) -> int:
    """Prints the chain of rounds `study_dir` belongs to."""
    print(history_lib.history_text(os.fspath(study_dir)))
    return 0
