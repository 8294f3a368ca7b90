"""Rounds of studies on disk: `playbook next` writes the next round's study config,
`playbook history` prints the chain of rounds.

A round's study.json names the study it continues (`spec.previous`: its
directory, its round number and every change with its reason), so a chain is
followed backwards from any round; forwards, a round's next is the study in a
sibling directory whose `previous` names it. `write_next` loads a study, runs
the findings, records an adoption (decisions.adopt) if asked, drafts the next
round (draft.py), writes the baseline beside the study config and the config
itself, and loads the result back as `playbook study` would, so a draft that
would not run is never left on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from collections.abc import Sequence
from typing import Any

from playbook import atomic
from playbook import config as config_lib
from playbook.analysis import decisions, diagnostics
from playbook.analysis import draft as draft_lib
from playbook.analysis import load as load_lib
from playbook.analysis.load import Study
from playbook.errors import ConfigError
from playbook.study import source
from playbook.study.spec import StudySpec
from playbook.study.store import read_json

NEXT_STUDY_FILE = "next_study.py"


@dataclasses.dataclass(frozen=True)
class Written:
    """What `write_next` wrote and why."""

    config: str                     # the next round's study config
    baseline: str                   # its baseline, beside it
    draft: draft_lib.Draft
    decision: dict[str, Any] | None  # the adoption the baseline carries, if any
    workdir: str                    # where to run it: beside the study it continues


def latest_decision(study_dir: str) -> dict[str, Any] | None:
    """The last record of STUDY_DIR/decisions.jsonl (None when nothing was adopted)."""
    path = os.path.join(study_dir, decisions.DECISIONS_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip().startswith("{")]
    return records[-1] if records else None


def write_next(study_dir: str, out: str | None = None, adopt: Sequence[str] = ()) -> Written:
    """Drafts and writes the next round of the study in `study_dir`."""
    study = load_lib.Study.load(study_dir)
    findings = diagnostics.diagnose(study)
    draft_lib.check_draftable(study, findings)
    out = os.path.abspath(out or os.path.join(study.root, NEXT_STUDY_FILE))
    if not out.endswith(".py"):
        raise ConfigError(f"--out '{out}' must be a Python file, e.g. "
                          f"{os.path.join(study.root, NEXT_STUDY_FILE)}")
    if adopt:
        decision = decisions.adopt(study, adopt, findings)
    else:
        decision = latest_decision(study.root)
    drafted = draft_lib.draft(study, findings)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    adopted = (decision or {}).get("next_baseline", "")
    if adopted and os.path.dirname(os.path.abspath(adopted)) == os.path.dirname(out) \
            and os.path.exists(adopted):
        baseline = os.path.abspath(adopted)  # adopt's next_baseline.py is beside it already
    else:
        baseline = os.path.splitext(out)[0] + "_baseline.py"
        atomic.write_text(baseline, _baseline_source(study, decision))
    workdir = next_workdir(study, drafted)
    text = config_text(study, drafted, out, baseline, decision, workdir)
    atomic.write_text(out, text)
    try:
        StudySpec.load(out)
    except ConfigError as e:  # a bug of the draft, never the user's: say so, keep nothing
        os.unlink(out)
        raise ConfigError(f"the drafted config did not load ({e}); nothing was written") from None
    return Written(out, baseline, drafted, decision, workdir)


def next_workdir(study: Study, drafted: draft_lib.Draft) -> str:
    """The next round's study directory: beside this round's, where `playbook history`
    and the reports look for the rounds of a chain."""
    return os.path.join(os.path.dirname(os.path.abspath(study.root)), drafted.spec.name)


def relative_to(path: str, folder: str) -> str:
    """`path` relative to `folder`, ending with the directory's own name: '../r1' rather
    than '.' when `folder` lies inside `path` (a drafted file inside the study it
    continues), so that the path names the study wherever it is read."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    rel = os.path.relpath(path, folder)
    if os.path.basename(rel) in (os.curdir, os.pardir):
        rel = os.path.join(os.path.relpath(os.path.dirname(path), folder),
                           os.path.basename(path))
    return rel


def _baseline_source(study: Study, decision: dict[str, Any] | None) -> str:
    if decision and os.path.exists(decision.get("next_baseline", "")):
        with open(decision["next_baseline"], encoding="utf-8") as f:
            return f.read()
    doc = (f"Baseline of the round after study '{study.spec.name}' ({study.root}): its baseline "
           f"unchanged (nothing adopted).")
    return decisions.config_source(config_lib.to_dict(study.spec.baseline), doc)


def config_text(study: Study, drafted: draft_lib.Draft, out: str, baseline: str,
                decision: dict[str, Any] | None, workdir: str | None = None) -> str:
    """The next round's study config (to be written at `out`) as Python source, a comment
    above each change; paths in it are relative to `out`'s folder, those in its
    docstring absolute: the text is the same from whatever working directory it is drafted."""
    where = os.path.dirname(os.path.abspath(out))
    previous = draft_lib.previous_record(study, drafted, relative_to(study.root, where),
                                         decision)
    spec = drafted.spec
    fields = {"name": spec.name, "description": spec.description,
              "baseline": os.path.relpath(baseline, where),
              "scientific": {k: list(v) for k, v in spec.scientific},
              "nuisance": spec.nuisance, "fixed": spec.fixed,
              "budget": spec.budget, "designer": spec.designer,
              "metric": spec.metric, "goal": spec.goal, "seed": spec.seed,
              **({"trial_timeout": spec.trial_timeout} if spec.trial_timeout else {}),
              "previous": previous}
    notes: dict[str, dict[str, list[str]]] = {"field": {}}
    for change in drafted.changes:
        section = change.section if change.section in ("nuisance", "fixed") else "field"
        key = change.key.split("[", 1)[0] if section != "field" else change.section
        notes.setdefault(section, {}).setdefault(key, []).append(_note(change))
    if decision:
        notes["field"].setdefault("baseline", []).append(
            _note(draft_lib.decision_change(decision)))
    return source.study_source(fields, notes, _docstring(
        study, drafted, out, workdir or next_workdir(study, drafted)))


def _note(change: draft_lib.Change) -> str:
    what = "kept" if change.kept else change.change
    return f"{change.finding}: {change.key}: {what}. {change.reason}."


def _docstring(study: Study, drafted: draft_lib.Draft, out: str, workdir: str) -> str:
    changed = sum(not c.kept for c in drafted.changes)
    run = shlex.join(["playbook", "study", "--config", os.path.abspath(out), "--workdir",
                      os.path.abspath(workdir)])
    return (f"Round {drafted.round}, drafted by `playbook next` from study '{study.spec.name}'\n"
            f"in {os.path.abspath(study.root)}:\n{changed} change(s), each with the finding "
            f"behind it in a comment above it.\nRun it (beside that study, so that `playbook "
            f"history` links the rounds) with\n\n    {run}")


# -- the chain of rounds ---------------------------------------------------------------


def previous_dir(study_dir: str) -> str | None:
    """The study directory the study in `study_dir` continues (None for a first round)."""
    spec = (read_json(os.path.join(study_dir, "study.json")) or {}).get("spec") or {}
    prev = (spec.get("previous") or {}).get("study")
    if not prev:
        return None
    # Rounds live side by side: a study of that name beside this one is the previous round,
    # also when the chain was moved or copied as a whole (the recorded path is then stale,
    # or names the original).
    beside = os.path.join(os.path.dirname(os.path.abspath(study_dir)), os.path.basename(prev))
    for candidate in (beside, prev):
        if os.path.isfile(os.path.join(candidate, "study.json")):
            return os.path.abspath(candidate)
    return None


def next_dirs(study_dir: str) -> list[str]:
    """Study directories beside `study_dir` whose previous round is `study_dir`."""
    root = os.path.abspath(study_dir)
    parent = os.path.dirname(root)
    out = []
    for name in sorted(os.listdir(parent)):
        candidate = os.path.join(parent, name)
        if candidate != root and os.path.isfile(os.path.join(candidate, "study.json")):
            if previous_dir(candidate) == root:
                out.append(candidate)
    return out


def chain(study_dir: str) -> list[str]:
    """Every round from the first to the last that follows `study_dir` (the first next
    round when several continue one)."""
    root = os.path.abspath(study_dir)
    if not os.path.isfile(os.path.join(root, "study.json")):
        raise ConfigError(f"'{study_dir}' is not a study directory (no study.json); give a "
                          f"directory that `playbook study --workdir` wrote")
    back = [root]
    while (prev := previous_dir(back[0])) is not None and prev not in back:
        back.insert(0, prev)
    while (after := next_dirs(back[-1])) and after[0] not in back:
        back.append(after[0])
    return back
