"""Modules from optional extras in tests: a test that needs one is skipped where it is not
installed, but not in CI (`CI` set, as `.ci/run` runs), which installs every extra the
tests use, so that a broken install fails there instead of skipping in silence."""

import importlib
import os
from types import ModuleType

import pytest


def require(module: str, extra: str) -> ModuleType:
    """`module`, from the `extra` of setup.cfg."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs the '{extra}' extra: "
                                              f"pip install -e '.[{extra}]'")
