"""A progress bar over a study's trials, with the running trials' steps and an ETA.

It polls the study directory (not the executor), so it shows the same picture
for in-process trials, worker processes and Ray tasks alike.
"""

from __future__ import annotations

import sys
import threading
import time

from playbook.study.spec import StudySpec
from playbook.study.store import StudyStore


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def line(store: StudyStore, spec: StudySpec, started: float, start_steps: int) -> str:
    """One status line: a bar over trials, the running trials' steps, and an ETA."""
    records = store.trials(spec.metric)
    total = len(records)
    finished = sum(r.status in ("done", "diverged", "failed") for r in records)
    max_steps = int(spec.baseline.get("max_train_steps", 1) or 1)
    steps = sum(max_steps if r.status in ("done", "diverged", "failed") else r.steps
                for r in records)
    width = 20
    filled = int(width * finished / max(total, 1))
    bar = "#" * filled + "-" * (width - filled)
    running = [f"{r.trial_id}@{r.steps}/{max_steps}" for r in records if r.status == "running"]
    elapsed = time.time() - started
    done_now = steps - start_steps
    eta = ""
    if done_now > 0 and total:
        eta = f" ETA {_duration(elapsed * (total * max_steps - steps) / done_now)}"
    run = f" running {' '.join(running[:4])}" if running else ""
    return f"[{bar}] {finished}/{total} trials{run}{eta}"


class ProgressBar:
    """Prints `line` every `interval` seconds from a background thread."""

    def __init__(self, store: StudyStore, spec: StudySpec, interval: float = 2.0, stream=None):
        self.store, self.spec, self.interval = store, spec, interval
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.started = time.time()
        self.start_steps = 0

    def __enter__(self) -> ProgressBar:
        try:
            first = line(self.store, self.spec, self.started, 0)
            records = self.store.trials(self.spec.metric)
            max_steps = int(self.spec.baseline.get("max_train_steps", 1) or 1)
            self.start_steps = sum(max_steps if r.status != "pending" and r.status != "running"
                                   else r.steps for r in records)
            self._print(first)
        except OSError:
            pass
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._print(line(self.store, self.spec, self.started, self.start_steps), final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._print(line(self.store, self.spec, self.started, self.start_steps))
            except OSError:
                continue

    def _print(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
