"""Workloads: dataset + model + loss + metrics, registered by name."""

from playbook.workloads import (  # noqa: F401  (registers)
    digits,
    images,
    lm,
    mnist1d,
    synthetic,
)
from playbook.workloads.base import MAXIMIZE, MINIMIZE, Dataset, Split, Workload
from playbook.workloads.registry import get, names, register

__all__ = ["MAXIMIZE", "MINIMIZE", "Dataset", "Split", "Workload", "get", "names", "register"]
