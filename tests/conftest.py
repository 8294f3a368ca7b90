"""Shared fixtures: the repository root and small baseline configs."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory, monkeypatch):
    """Generated datasets are cached once per test session, never in the home directory."""
    if "PLAYBOOK_DATA_DIR" not in os.environ:
        monkeypatch.setenv("PLAYBOOK_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))
    if "PLAYBOOK_COMPILATION_CACHE" not in os.environ:
        monkeypatch.setenv("PLAYBOOK_COMPILATION_CACHE",
                           str(tmp_path_factory.getbasetemp() / "jax_cache"))
