"""Studies: a declaration (spec.py, read by spec_parse.py) and its on-disk state and runner."""

from playbook.study.spec import StudySpec, TrialSpec
from playbook.study.spec_parse import define

__all__ = ["StudySpec", "TrialSpec", "define"]
