"""Ctrl-C and SIGTERM in the `playbook` command: one line, the exit status a shell
expects, no tracebacks of interrupted libraries, and no hang.

`install(line)` replaces Python's SIGINT handler, and SIGTERM's default action, for a
command run from the shell. The first signal raises KeyboardInterrupt (`Terminated`,
a KeyboardInterrupt, for SIGTERM), so that the work unwinds as after a Ctrl-C (worker
processes are stopped, a trial's pending best checkpoint is written, files closed)
and the command prints `said(line)`: `line` ('interrupted; ...: what is kept on disk
and the command that resumes') for Ctrl-C, the same with 'terminated by SIGTERM' for
SIGTERM (a scheduler's or a container's stop). Logging is silenced first, since
libraries interrupted mid-work (orbax waiting for a checkpoint) log their own
tracebacks. A second signal, or an unwinding that hangs on a lock the interruption
left held, ends the process with the same line.

Exit status (`exit_status`): 128 + the signal's number, as a shell reports a process
the signal ended: 130 after Ctrl-C, 143 after SIGTERM. The process exits with it
rather than dying by the signal, so that the line is printed and the unwinding done.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

EXIT_INTERRUPTED = 128 + signal.SIGINT   # 130, as a shell reports a Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM   # 143, as a shell reports a process SIGTERM ended
GRACE_S = 10.0  # for the interrupted work to unwind before the process just ends

_state = {"line": "", "at": 0.0, "signal": signal.SIGINT}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the work unwinds as after a Ctrl-C."""


def install(line: str) -> None:
    """Handles SIGINT and SIGTERM as described above, each unless it is ignored (SIGINT
    in a background job) or already handled."""
    _state["line"] = line
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def said(line: str) -> str:
    """`line` ('interrupted; ...') as the signal received says it."""
    if _state["signal"] == signal.SIGTERM:
        return line.replace("interrupted", "terminated by SIGTERM", 1)
    return line


def exit_status() -> int:
    """130 after Ctrl-C, 143 after SIGTERM (see the module's docstring)."""
    return EXIT_TERMINATED if _state["signal"] == signal.SIGTERM else EXIT_INTERRUPTED


def _interrupt(signum, frame) -> None:
    logging.disable(logging.CRITICAL)
    if _state["at"]:
        _give_up()
    _state["at"] = time.monotonic()
    _state["signal"] = signum
    timer = threading.Timer(GRACE_S, _give_up)
    timer.daemon = True
    timer.start()
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt


def _give_up() -> None:
    print(said(_state["line"]), file=sys.stderr)
    exit_now()


def exit_now() -> None:
    """Ends the process without interpreter shutdown, which would wait for (or fail in)
    background threads interrupted mid-work, such as an asynchronous checkpoint save.
    What they leave unfinished is what a killed process leaves: a rerun recovers it.
    Worker processes still alive (an unwinding cut short) are killed first: none goes
    on training once the command has ended."""
    processes = sys.modules.get("multiprocessing")
    for child in processes.active_children() if processes else ():
        child.kill()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_status())
