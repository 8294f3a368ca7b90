"""Ctrl-C in the `playbook` command: one line, the exit status a shell expects, no
tracebacks of interrupted libraries, and no hang.

`install(line)` replaces Python's SIGINT handler for a command run from the shell.
The first Ctrl-C raises KeyboardInterrupt as usual, so that the work unwinds (worker
processes are stopped, files closed) and the command prints `line`; logging is
silenced first, since libraries interrupted mid-work (orbax waiting for a
checkpoint) log their own tracebacks. A second Ctrl-C, or an unwinding that hangs
on a lock the interruption left held, ends the process with the same line.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
GRACE_S = 10.0  # for the interrupted work to unwind before the process just ends

_state = {"line": "", "at": 0.0}


def install(line: str) -> None:
    """Handles SIGINT as described above, unless it is ignored (a background job)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        _state["line"] = line
        signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum, frame) -> None:
    logging.disable(logging.CRITICAL)
    if _state["at"]:
        _give_up()
    _state["at"] = time.monotonic()
    timer = threading.Timer(GRACE_S, _give_up)
    timer.daemon = True
    timer.start()
    raise KeyboardInterrupt


def _give_up() -> None:
    print(_state["line"], file=sys.stderr)
    exit_now()


def exit_now() -> None:
    """Ends the process without interpreter shutdown, which would wait for (or fail in)
    background threads interrupted mid-work, such as an asynchronous checkpoint save.
    What they leave unfinished is what a killed process leaves: a rerun recovers it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
