"""Workloads: dataset + model + loss + metrics, registered by name."""

from playbook.workloads import digits, mnist1d, synthetic  # noqa: F401  (registers)
from playbook.workloads.base import MAXIMIZE, MINIMIZE, Dataset, Split, Workload
from playbook.workloads.registry import get, names, register

__all__ = ["MAXIMIZE", "MINIMIZE", "Dataset", "Split", "Workload", "get", "names", "register"]
