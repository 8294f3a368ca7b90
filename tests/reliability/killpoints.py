"""A runner that can be SIGKILLed at a chosen moment of a study's life, many times over.

    python tests/reliability/killpoints.py LEDGER

reads one JSON request a line on stdin, `{"point": POINT, "count": N, "argv":
[...], "log": FILE}`, and answers each with two lines: `pid PID`, then
`exit RC` (RC as subprocess reports it: -9 for SIGKILL). For each request it
forks a fresh process that runs `playbook ARGV` (the CLI's own `main`) and
SIGKILLs itself at the Nth occurrence of POINT; POINT `none` never kills.
Heavy modules are imported once, before the first fork, so that each run costs
its training, not its imports; JAX is not initialised in this parent, so each
child starts its backend, compiles and trains from scratch like a new process.

LEDGER, a file outside the study, gets one JSON line for every result.json a
run put in place: the trial and the SHA-256 of the bytes written.

Moments (each a real SIGKILL of the runner process at that instant):

- `trial_json`: a trial's trial.json is about to be put in place (study creation).
- `study_json`: study.json is about to be put in place.
- `attempt`: a trial was just claimed and its attempt recorded; nothing trained.
- `metrics_line`: half of a metrics.jsonl record was written and flushed.
- `checkpoint`: a checkpoint save was handed to orbax and is still in flight.
- `result_tmp`: result.json's temporary file is written, not yet renamed.
- `result_done`: result.json was just put in place; the runner has not noted it.

This file is a test helper, not a test: pytest does not collect it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import traceback

POINTS = ("none", "trial_json", "study_json", "attempt", "metrics_line", "checkpoint",
          "result_tmp", "result_done")


def install(point: str, count: int, ledger: str) -> None:
    """Patches this process so that it SIGKILLs itself at the `count`th `point`."""
    assert point in POINTS, point
    seen = {"n": 0}

    def hit(name: str) -> None:
        if name == point:
            seen["n"] += 1
            if seen["n"] == count:
                os.kill(os.getpid(), signal.SIGKILL)

    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        dst_name = os.path.basename(os.fspath(dst))
        if dst_name == "trial.json":
            hit("trial_json")
        elif dst_name == "study.json":
            hit("study_json")
        elif dst_name == "result.json":
            hit("result_tmp")
        real_replace(src, dst, *args, **kwargs)
        if dst_name == "result.json":
            with open(dst, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            line = json.dumps({"trial": os.path.basename(os.path.dirname(os.fspath(dst))),
                               "sha256": digest, "pid": os.getpid()})
            fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            hit("result_done")

    os.replace = replace

    from playbook.study import store as store_lib
    from playbook.train import checkpoints as checkpoints_lib
    from playbook.train import metrics as metrics_lib

    record_attempt = store_lib.StudyStore.record_attempt

    def attempt(self, trial_id):
        record_attempt(self, trial_id)
        hit("attempt")

    store_lib.StudyStore.record_attempt = attempt

    write = metrics_lib.MetricsWriter.write

    def metrics_write(self, step, scalars):
        if point == "metrics_line" and seen["n"] + 1 == count:
            line = json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}})
            self._file.write(line[: len(line) // 2])
            self._file.flush()
            os.fsync(self._file.fileno())
        else:
            write(self, step, scalars)
        hit("metrics_line")

    metrics_lib.MetricsWriter.write = metrics_write

    save = checkpoints_lib.Checkpoints.save

    def checkpoint_save(self, *args, **kwargs):
        saved = save(self, *args, **kwargs)
        hit("checkpoint")
        return saved

    checkpoints_lib.Checkpoints.save = checkpoint_save


def serve(ledger: str) -> None:
    import playbook.analysis.commands  # noqa: F401 - imported once, before any fork
    import playbook.study.executors  # noqa: F401
    import playbook.study.progress  # noqa: F401
    import playbook.train.loop  # noqa: F401
    from playbook import cli

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            rc = 1
            try:
                fd = os.open(request.get("log", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                install(request["point"], int(request["count"]), ledger)
                rc = cli.main(request["argv"])
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(rc)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    serve(sys.argv[1])
