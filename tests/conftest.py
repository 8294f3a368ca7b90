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


def pytest_terminal_summary(terminalreporter):
    """Every test that did not run, by why, in the closing lines even under `-q`: a
    missing browser or extra is said, never passed over in silence."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.write_sep("-", f"{len(skipped)} tests not run")
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"not run: {count} x {reason}")
