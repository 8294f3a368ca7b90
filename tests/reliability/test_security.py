"""Security: a study directory is data. Loading, reporting on and resuming a study
never unpickles, imports or executes anything found in it, and nothing from it
(trial ids, links, values) can make playbook write outside it or write code.

A study copied from elsewhere may hold anything: these tests plant bait
(pickles whose loading, and Python files whose execution, would leave a marker
file) and exercise the real readers with an audit hook watching every open,
exec, compile, process start and unpickling, and with pickle's loaders patched
to raise. The one unpickling allowed is tensorboardX's, of its own in-memory
queue while a resumed trial trains.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import pickle
import shutil
import sys
from unittest import mock

import numpy as np
import pytest

from playbook import cli
from playbook.analysis import commands
from playbook.analysis.load import Study, load_curves, load_study
from playbook.errors import ConfigError
from playbook.study import StudySpec, executors, runner
from playbook.study.store import StudyStore

from .study_files import result_hashes, results, run_study

# Audit events recorded while `_WATCH` is set (an audit hook cannot be removed,
# so it stays installed and idle outside these tests).
_WATCH: dict = {"on": False, "root": "", "events": []}
_FORBIDDEN = ("pickle.find_class", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn",
              "os.spawn", "ctypes.dlopen")
_BAIT = (".py", ".pyc", ".pkl", ".pickle", ".npy")


def _tensorboard_queue() -> bool:
    """Whether this call comes from tensorboardX's writer thread, which passes its own
    events through an in-process multiprocessing queue (pickled there, in memory)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(os.path.join("tensorboardX",
                                                          "event_file_writer.py")):
            return True
        frame = frame.f_back
    return False


def _audit(event: str, args: tuple) -> None:
    if not _WATCH["on"]:
        return
    root = _WATCH["root"]
    if event == "pickle.find_class" and _tensorboard_queue():
        return
    if event in _FORBIDDEN:
        _WATCH["events"].append((event, repr(args)[:200]))
    elif event == "exec" and getattr(args[0], "co_filename", "").startswith(root):
        _WATCH["events"].append((event, args[0].co_filename))
    elif event == "compile" and str(args[1]).startswith(root):
        _WATCH["events"].append((event, str(args[1])))
    elif event == "open" and isinstance(args[0], str) and args[0].startswith(root):
        _WATCH["opened"].append((args[0], args[1]))


sys.addaudithook(_audit)


class Bait:
    """Unpickling this, or running the Python files below, creates MARKER."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(workdir: str, marker: str) -> None:
    code = f"open({marker!r}, 'w').close()\n"
    payload = pickle.dumps(Bait(marker))
    for directory in [workdir, *(os.path.join(workdir, "trials", t)
                                 for t in os.listdir(os.path.join(workdir, "trials")))]:
        for name in ("__init__.py", "config.py", "study.py", "next_baseline.py", "get_config.py"):
            with open(os.path.join(directory, name), "w") as f:
                f.write(code)
        for name in ("result.pkl", "study.pkl", "state.pickle", "metrics.pkl"):
            with open(os.path.join(directory, name), "wb") as f:
                f.write(payload)
        np.save(os.path.join(directory, "arrays.npy"), np.array([Bait(marker)], dtype=object),
                allow_pickle=True)


@contextlib.contextmanager
def _watched(root: str):
    """Records audit events under `root`; pickle's and numpy's pickle loaders raise."""
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    real_np_load = np.load

    def np_load(*args, allow_pickle=False, **kwargs):
        if allow_pickle:
            raise AssertionError("np.load with allow_pickle")
        return real_np_load(*args, allow_pickle=False, **kwargs)

    patches = [mock.patch("pickle.load", refuse), mock.patch("pickle.loads", refuse),
               mock.patch("pickle.Unpickler", refuse), mock.patch("numpy.load", np_load)]
    _WATCH.update(on=True, root=os.path.realpath(root), events=[], opened=[])
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        try:
            yield _WATCH
        finally:
            _WATCH["on"] = False


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir, config = run_study(tmp_path_factory.mktemp("finished"), budget=1,
                                steps=80)
    return workdir, config


@pytest.fixture
def study(finished, tmp_path):
    source, config = finished
    workdir = os.path.realpath(str(tmp_path / "study"))
    shutil.copytree(source, workdir)
    return workdir, config


def _written(opened: list[tuple[str, str]]) -> list[str]:
    return sorted({path for path, mode in opened if any(m in str(mode) for m in "wax+")})


def test_loading_reporting_and_resuming_execute_and_unpickle_nothing_from_the_study(
        study, tmp_path):
    workdir, config = study
    marker = str(tmp_path / "MARKER")
    _plant(workdir, marker)
    os.unlink(os.path.join(workdir, "trials", "0001", "result.json"))  # resumed below
    out = io.StringIO()
    with _watched(workdir) as watch:
        loaded = Study.load(workdir)
        load_study(workdir)
        load_curves(workdir)
        with contextlib.redirect_stdout(out):
            assert cli.main(["status", workdir]) == 0
        reads = list(watch["opened"])
        with contextlib.redirect_stdout(out):
            commands.report(workdir)
            store, spec = StudyStore(workdir), StudySpec.load(config)
            runner.prepare(store, spec)
            statuses = runner.run(store, spec, executors.Inline()).statuses
    assert statuses == {"0001": "done"}  # the checkpoint restored without unpickling
    assert watch["events"] == []
    assert not os.path.exists(marker)
    assert [p for p, mode in watch["opened"] if p.endswith(_BAIT) and "r" in str(mode)] == []
    assert list(loaded.trials["status"]) == ["done", "pending"] and len(loaded.curves) > 0
    # Reading opened only the study's own files, and wrote nothing.
    assert _written(reads) == []
    names = {os.path.basename(p) for p, _ in reads}
    assert names <= {"study.json", "trial.json", "result.json", "config.json", "metrics.jsonl",
                     "lock"}, names
    # Reporting and resuming wrote only the report and the resumed trial.
    written = _written(watch["opened"])
    report, trial = os.path.join(workdir, "report"), os.path.join(workdir, "trials", "0001")
    assert written and all(p.startswith((report, trial, os.path.join(workdir, ".study.lock")))
                           for p in written), written


def test_trial_ids_and_links_cannot_lead_outside_the_study(study, tmp_path, capsys):
    workdir, config = study
    store = StudyStore(workdir)
    for bad in ("../x", "../../etc/passwd", "/tmp/x", "0001/../../x", "0001/"):
        with pytest.raises(ConfigError, match="is not a trial id"):
            store.trial_dir(bad)
    # Hand-edited ids inside trial.json are data, never paths.
    meta_path = os.path.join(workdir, "trials", "0000", "trial.json")
    meta = json.load(open(meta_path))
    json.dump({**meta, "trial_id": "../../outside", "repeats": "../../outside"},
              open(meta_path, "w"))
    # A trial directory that is a link to elsewhere is not part of the study.
    outside = tmp_path / "outside"
    shutil.copytree(os.path.join(workdir, "trials", "0001"), outside / "0002")
    os.unlink(outside / "0002" / "result.json")
    os.symlink(outside / "0002", os.path.join(workdir, "trials", "0002"))
    before = sorted(str(p) for p in outside.rglob("*"))
    assert store.trial_ids() == ["0000", "0001"]
    assert cli.main(["status", workdir]) == 0
    capsys.readouterr()
    assert list(load_study(workdir)["trial_id"]) == ["0000", "0001"]
    # A link inside a trial directory stops the runner before it writes through it.
    os.unlink(os.path.join(workdir, "trials", "0001", "result.json"))
    shutil.rmtree(os.path.join(workdir, "trials", "0001", "checkpoints"))
    os.symlink(outside / "0002" / "checkpoints", os.path.join(workdir, "trials", "0001",
                                                               "checkpoints"))
    code = cli.main(["study", "--config", config, "--workdir", workdir, "--no_progress",
                     "--no_report"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "checkpoints' is a symbolic link to" in err and "outside the study directory" in err
    assert sorted(str(p) for p in outside.rglob("*")) == before
    assert not (tmp_path / "x").exists()


def test_values_from_a_hand_edited_study_cannot_become_code_in_written_configs(
        study, tmp_path, capsys):
    workdir, _ = study
    store = StudyStore(workdir)
    marker = str(tmp_path / "MARKER")
    injected = f'x"""\nopen({marker!r}, "w")\n"""'
    data = json.load(open(store.study_json))
    data["spec"]["name"] = injected
    json.dump(data, open(store.study_json, "w"))
    hashes = result_hashes(workdir)
    with contextlib.redirect_stdout(io.StringIO()):
        commands.report(workdir)
    generated = [os.path.join(workdir, "report", "configs", f)
                 for f in os.listdir(os.path.join(workdir, "report", "configs"))]
    assert generated
    for path in generated:
        tree = ast.parse(open(path).read())
        kinds = [type(node).__name__ for node in tree.body]
        assert kinds == ["Expr", "ImportFrom", "Assign", "FunctionDef"], (path, kinds)
        namespace: dict = {}
        exec(compile(tree, path, "exec"), namespace)  # what `playbook train --config` does
        assert namespace["get_config"]().optimizer in ("nesterov", "adamw")
    assert not os.path.exists(marker)
    assert result_hashes(workdir) == hashes
    assert results(workdir)
