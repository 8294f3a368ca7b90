"""What `playbook report`, `playbook compare` and `playbook adopt` do: thin shells that
load a study, call the analysis and print to stdout. Each returns an exit status;
bad input raises ConfigError, which the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from playbook.analysis import decisions, diagnostics
from playbook.analysis import load as load_lib
from playbook.analysis import report as report_lib


def report(study_dir: str | os.PathLike) -> int:
    """Writes STUDY_DIR/report/index.html and prints the findings."""
    study = load_lib.Study.load(study_dir)
    findings = diagnostics.diagnose(study)
    path = report_lib.write_report(study, findings)
    print(f"findings for study {study.spec.name} ({len(study.trials)} trials):")
    print(report_lib.findings_text(findings))
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
        print("  note: the evidence does not show that it beats the baseline beyond trial "
              "variance (Playbook: adopt a change only if it does, and is worth its complexity)")
    for finding in record["findings"]:
        print(f"  open finding [{finding['severity']}] {finding['code']}: {finding['message']}")
    print(f"  decision appended to {os.path.join(study.root, decisions.DECISIONS_FILE)}")
    print(f"  next baseline: {record['next_baseline']}")
    print(f"  next round: playbook train --config {record['next_baseline']} "
          f"--workdir runs/next_baseline")
    return 0
