"""Studies: a declaration (spec.py) and, later, its on-disk state and runner."""

from playbook.study.spec import StudySpec, Trial, define

__all__ = ["StudySpec", "Trial", "define"]
