"""Environment faults: a full disk or a study directory that cannot be written.

The contract: the command stops with one `playbook: error: cannot write ...`
line naming the fault and exit status 3; finished trials are untouched; the
trial in flight is not recorded as done, nor as failed (the disk failed, not
the trial), so running the same command again once space is freed finishes the
study exactly as if nothing had happened.

A real full disk is a small tmpfs (needs root and a mount; skipped where
neither is allowed). The same faults are also injected at the write layer with
unittest.mock, which runs anywhere: ENOSPC from `os.replace` (every atomic
write ends with it) and from the metrics file, and EACCES for a study directory
that cannot be written (as root `chmod` would not stop a write).
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import subprocess
import types
import uuid
from unittest import mock

import pytest
from extra_modules import require

from playbook import cli
from playbook.analysis.load import load_study
from playbook.errors import storage_fault
from playbook.study import executors
from playbook.study.runner import Unit
from playbook.study.store import StudyStore
from playbook.train import metrics as metrics_lib

from .study_files import (
    attempts,
    curves,
    playbook,
    result_hashes,
    results,
    run_study,
    study_args,
)

LINE = "playbook: error: cannot write "


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted four-trial study, and its config file."""
    workdir, config = run_study(tmp_path_factory.mktemp("reference"), budget=2,
                                steps=120)
    return workdir, config


def _study(config: str, workdir: str, capsys, *extra: str) -> tuple[int, str]:
    code = cli.main([*study_args(config, workdir), *extra])
    return code, capsys.readouterr().err


def _assert_one_line(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("playbook: error:")]
    assert len(lines) == 1 and lines[0].startswith(LINE) and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]
    assert "run the same command again" in lines[0]


def _no_failed_results(workdir: str) -> None:
    for trial_id in StudyStore(workdir).trial_ids():
        assert not os.path.exists(os.path.join(workdir, "trials", trial_id, "error.txt"))
    assert "failed" not in set(load_study(workdir)["status"])


def _disk_full_when_replacing(suffix: str):
    """`os.replace` raises ENOSPC for a destination ending in `suffix`."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(suffix):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    return mock.patch("os.replace", replace)


def test_disk_full_when_a_result_is_written_stops_the_study_and_claims_nothing(
        reference, tmp_path, capsys):
    ref_dir, config = reference
    workdir = str(tmp_path / "study")
    with _disk_full_when_replacing(os.path.join("0001", "result.json")):
        code, err = _study(config, workdir, capsys)
    assert code == 3
    _assert_one_line(err, "No space left on device", "0001")
    assert set(results(workdir)) == {"0000"}  # 0001 trained, but not claimed done
    _no_failed_results(workdir)
    finished = result_hashes(workdir)
    code, err = _study(config, workdir, capsys)  # space freed: the same command again
    assert code == 0, err
    assert results(workdir) == results(ref_dir)
    assert curves(workdir) == curves(ref_dir)
    assert result_hashes(workdir)["0000"] == finished["0000"]
    assert [len(a) for a in attempts(workdir).values()] == [1, 2, 1, 1]


@pytest.mark.slow
def test_disk_full_in_a_group_of_trials_stops_the_study_and_claims_nothing(
        reference, tmp_path, capsys):
    """The same with trials trained two per program: no member is recorded failed, and
    no traceback is printed before the one line."""
    ref_dir, config = reference
    workdir = str(tmp_path / "study")
    with _disk_full_when_replacing(os.path.join("0001", "result.json")):
        code, err = _study(config, workdir, capsys, "--trials_per_program=2")
    assert code == 3
    _assert_one_line(err, "No space left on device", "0001")
    assert "0001" not in results(workdir)
    _no_failed_results(workdir)
    code, err = _study(config, workdir, capsys, "--trials_per_program=2")
    assert code == 0, err
    assert {t: r["status"] for t, r in results(workdir).items()} == {
        t: r["status"] for t, r in results(ref_dir).items()}


def test_disk_full_while_appending_metrics_stops_the_study_and_claims_nothing(
        reference, tmp_path, capsys):
    ref_dir, config = reference
    workdir = str(tmp_path / "study")
    real_open = builtins.open
    budget = {"lines": 8}  # trial 0000's six records and two of 0001's

    class FullDisk:
        def __init__(self, f):
            self._f = f

        def write(self, text):
            if budget["lines"] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._f.name)
            budget["lines"] -= 1
            return self._f.write(text)

        def __getattr__(self, name):
            return getattr(self._f, name)

    def open_(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return FullDisk(f) if str(path).endswith("metrics.jsonl") and "a" in mode else f

    with mock.patch.object(metrics_lib, "open", open_, create=True):
        code, err = _study(config, workdir, capsys)
    assert code == 3
    _assert_one_line(err, "No space left on device", os.path.join("0001", "metrics.jsonl"))
    assert set(results(workdir)) == {"0000"}
    _no_failed_results(workdir)
    finished = result_hashes(workdir)
    code, err = _study(config, workdir, capsys)
    assert code == 0, err
    assert results(workdir) == results(ref_dir)
    assert result_hashes(workdir)["0000"] == finished["0000"]


def test_unwritable_study_directory_is_one_line_and_status_still_reads_it(reference, tmp_path,
                                                                          capsys):
    ref_dir, config = reference
    workdir = str(tmp_path / "study")
    shutil.copytree(ref_dir, workdir)
    os.unlink(os.path.join(workdir, "trials", "0001", "result.json"))  # one trial left to run
    before = result_hashes(workdir)
    listing = sorted(os.path.join(d, f) for d, _, fs in os.walk(workdir) for f in fs)

    def denied(path):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    real_open, real_mkstemp = builtins.open, __import__("tempfile").mkstemp

    def open_(path, mode="r", *args, **kwargs):
        if str(path).startswith(workdir) and any(m in mode for m in "wax+"):
            raise denied(path)
        return real_open(path, mode, *args, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):
        if dir and str(dir).startswith(workdir):
            raise denied(dir)
        return real_mkstemp(*args, dir=dir, **kwargs)

    with unwritable(workdir, open_, mkstemp):
        code, err = _study(config, workdir, capsys)
        assert code == 3
        _assert_one_line(err, "Permission denied", workdir)
        assert cli.main(["status", workdir]) == 0
        out = capsys.readouterr().out
        assert "optimizer=adamw" in out and out.splitlines()[3].split()[1:4] == ["1", "0", "1"]
        assert list(load_study(workdir)["status"]) == ["done", "pending", "done", "done"]
    assert result_hashes(workdir) == before
    assert sorted(os.path.join(d, f) for d, _, fs in os.walk(workdir) for f in fs) == listing


class unwritable:
    """The study directory made unwritable: by chmod when that stops this user
    (not root), else by failing every write under it in the modules that write."""

    def __init__(self, workdir, open_, mkstemp):
        self.workdir, self.open_, self.mkstemp = workdir, open_, mkstemp
        self.patches = []

    def __enter__(self):
        self.modes = {}
        for d, _, files in os.walk(self.workdir):
            for p in [d, *(os.path.join(d, f) for f in files)]:
                self.modes[p] = os.stat(p).st_mode
                os.chmod(p, self.modes[p] & ~0o222)
        probe = os.path.join(self.workdir, f".probe-{uuid.uuid4().hex}")
        try:
            with open(probe, "w"):
                pass
            os.unlink(probe)
            chmod_stops_writes = False
        except PermissionError:
            chmod_stops_writes = True
        if not chmod_stops_writes:  # root: simulate at the write layer
            from playbook import atomic, trial_files
            from playbook.study import store as store_lib
            from playbook.train import loop

            for module in (store_lib, atomic, trial_files, loop, metrics_lib):
                self.patches.append(mock.patch.object(module, "open", self.open_, create=True))
            self.patches.append(mock.patch("tempfile.mkstemp", self.mkstemp))
            for p in self.patches:
                p.start()
        return self

    def __exit__(self, *exc):
        for p in self.patches:
            p.stop()
        for p, mode in self.modes.items():
            os.chmod(p, mode)


def _mount_tmpfs(path: str, size: str) -> bool:
    os.makedirs(path, exist_ok=True)
    if shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.slow
def test_real_full_disk_stops_the_study_and_freeing_space_finishes_it(reference, tmp_path):
    reference, config = reference
    disk = str(tmp_path / "disk")
    if not _mount_tmpfs(disk, "600k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the mocked faults above still run")
    try:
        workdir = os.path.join(disk, "study")
        full = playbook(*study_args(config, workdir))
        assert full.returncode == 3, full.stderr[-3000:]
        last = full.stderr.strip().splitlines()
        assert any(line.startswith(LINE) and "No space left on device" in line for line in last)
        kept = result_hashes(workdir)
        assert 0 < len(kept) < 4  # some trials finished before the disk filled
        _no_failed_results(workdir)
        subprocess.run(["mount", "-o", "remount,size=8m", disk], check=True)
        again = playbook(*study_args(config, workdir))
        assert again.returncode == 0, again.stderr[-3000:]
        assert results(workdir) == results(reference)
        assert curves(workdir) == curves(reference)
        assert {t: h for t, h in result_hashes(workdir).items() if t in kept} == kept
        print(f"\nfull disk: {len(kept)} of 4 trials finished before ENOSPC; resumed to the "
              f"uninterrupted study's results")
    finally:
        subprocess.run(["umount", disk], capture_output=True)


def test_ray_executor_stops_on_a_full_disk_and_leaves_a_lost_worker_s_trial_pending():
    """A storage fault in a Ray task is raised, not retried (it would fail again, forever);
    a crashed worker's trial is pending, to be resumed."""
    ray_exceptions = require("ray.exceptions", "ray")
    full = ray_exceptions.RayTaskError(
        "_run", "Traceback ...\nOSError: [Errno 28] No space left on device: '/s/trials/0001'",
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/s/trials/0001/metrics.jsonl"))
    outcomes = {"0000": ray_exceptions.WorkerCrashedError(), "0001": full}

    def get(ref):
        raise outcomes[ref]

    class Task:
        def options(self, **kwargs):
            return self

        def remote(self, study_dir, unit):
            return unit.trial_ids[0]

    ex = object.__new__(executors.Ray)
    ex.ray = types.SimpleNamespace(exceptions=ray_exceptions, get=get,
                                   wait=lambda refs, num_returns: (refs[:1], refs[1:]))
    ex.options, ex._task = {}, Task()
    units = [Unit(("0000",)), Unit(("0001",))]
    with pytest.raises(ray_exceptions.RayTaskError) as raised:
        ex.map("/s", units)
    assert storage_fault(raised.value).errno == errno.ENOSPC
    assert ex.map("/s", units[:1]) == {"0000": "pending"}
