"""Concurrency: two runners and status readers on one study at once.

No trial is trained twice, both runners share the work, every trial ends
finished, and a reader never crashes or shows a number that is not on disk:
every `playbook status` table read while the runners write adds up to the
study's trials, its done counts only grow, and every best value it shows is the
objective its trial ends with.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time

import pytest

from playbook import cli
from playbook.analysis.load import load_study
from playbook.study.store import StudyStore

from .study_files import attempts, env, results, study_args, write_study

ROW = re.compile(r"^optimizer=(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+(\S+)"
                 r"(?: \((\d+)\))?$")  # the column after failed: seed reruns


def _status_in_process(workdir: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["status", workdir])
    return code, out.getvalue(), err.getvalue()


def _parse(table: str) -> dict[str, tuple[int, int, int, int, int, float | None, str | None]]:
    """optimizer -> (pending, running, done, diverged, failed, best, best trial)."""
    lines = table.splitlines()
    assert lines[0].startswith("study '") and lines[1].split()[0] == "scientific", table
    rows = {}
    for line in lines[2:]:
        if line.startswith(("counted: ", "(reruns: ")):  # what the table counts, in words
            continue
        match = ROW.match(line)
        assert match, f"unparseable status line {line!r}"
        name, *counts, best, trial = match.groups()
        rows[name] = (*map(int, counts), None if best == "-" else float(best), trial)
    return rows


@pytest.mark.slow
def test_two_runners_and_status_readers_share_a_study_without_duplicates_or_garbage(tmp_path):
    config = write_study(tmp_path, budget=3)
    workdir = str(tmp_path / "study")
    runners = [subprocess.Popen([sys.executable, "-m", "playbook", *study_args(config, workdir)],
                                env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    tables, not_yet, loads = [], 0, 0
    cli_readers = []
    while any(r.poll() is None for r in runners):
        code, out, err = _status_in_process(workdir)
        if code == 2 and "is not a study directory" in err:
            not_yet += 1  # study.json not created yet: a clear one-line answer
        else:
            assert code == 0 and not err, (code, err)
            tables.append(_parse(out))
            study = load_study(workdir)  # the analysis reader too
            assert set(study["status"]) <= {"pending", "running", "done", "diverged"}
            loads += 1
        if len(cli_readers) < 3 and tables:  # and the command, in its own process
            cli_readers.append(subprocess.Popen(
                [sys.executable, "-m", "playbook", "status", workdir], env=env(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.05)
    for r in runners:
        out, err = r.communicate()
        assert r.returncode == 0, err[-3000:]
    for reader in cli_readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0 and not err.strip(), err[-2000:]
        tables.append(_parse(out))

    final = results(workdir)
    assert len(final) == 6 and {r["status"] for r in final.values()} <= {"done", "diverged"}
    starts = attempts(workdir)
    assert all(len(s) == 1 for s in starts.values()), starts  # no trial trained twice
    runner_pids = {r.pid for r in runners}
    assert {s[0]["pid"] for s in starts.values()} == runner_pids  # both did some

    # Every table read while the runners wrote is consistent with what they wrote.
    objectives = {t: (r["best"] or {}).get("valid/error_rate") for t, r in final.items()}
    done_before: dict[str, int] = {}
    for rows in tables[:len(tables) - len(cli_readers)]:
        for name, (pending, running, done, diverged, failed, best, trial) in rows.items():
            assert pending + running + done + diverged + failed == 3
            assert failed == 0 and running <= 2
            assert done >= done_before.get(name, 0)
            done_before[name] = done
            if best is not None:
                assert best == pytest.approx(objectives[trial], rel=1e-3)
    print(f"\nconcurrency: 2 runners, {len(tables)} status tables and {loads} analysis loads "
          f"read while they wrote ({not_yet} before study.json existed); "
          f"{sum(len(s) for s in starts.values())} starts for 6 trials")
    assert len(tables) >= 10


def _hold_lock(path: str, mode: str, seconds: float) -> subprocess.Popen:
    """Another process holding `path`'s flock (shared: a status probe; exclusive: a runner)."""
    code = (f"import fcntl, sys, time\nf = open(sys.argv[1], 'rb')\n"
            f"fcntl.flock(f, fcntl.LOCK_{mode})\nprint('held', flush=True)\n"
            f"time.sleep({seconds})\n")
    proc = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_status_probe_holding_a_trial_lock_does_not_make_a_runner_skip_the_trial(tmp_path):
    store = StudyStore(str(tmp_path))
    os.makedirs(store.trial_dir("0000"))
    lock = os.path.join(store.trial_dir("0000"), "lock")
    open(lock, "a").close()
    probe = _hold_lock(lock, "SH", 0.2)  # what is_claimed does, for far longer than it does
    with store.claim("0000") as mine:
        assert mine
    probe.wait()
    runner_ = _hold_lock(lock, "EX", 30)  # a runner training the trial
    try:
        assert store.is_claimed("0000")
        with store.claim("0000") as mine:
            assert not mine
    finally:
        runner_.kill()
        runner_.wait()
    assert not store.is_claimed("0000")
