"""Where a trial's training metrics go: an append-only `metrics.jsonl`, TensorBoard
event files, and a progress line on the terminal.

`metrics.jsonl` is the record the analysis reads: one JSON object per
`write(step, scalars)`, e.g. `{"step": 100, "train/loss": 0.41}`, appended and
flushed. A trial that resumes from the checkpoint of step S first drops the
records after S (`drop_after`, an atomic rewrite), which it is about to write
again, and keeps appending: one record per logged step. Non-finite values (a
diverged loss) are written as `null`, which keeps every line strict JSON;
`playbook.trial_files.read_metrics` reads them back as NaN (that module owns
the file's format; this one writes it).
TensorBoard events go to `workdir/tensorboard/` through clu's `metric_writers`
when TensorFlow is installed, else through tensorboardX; W&B and MLflow get the
same scalars when `PLAYBOOK_TRACKERS` asks for them (trackers.py). Only process
0 should write (`enabled=False` elsewhere). This module computes no metrics.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from playbook import trial_files

TENSORBOARD_DIR = "tensorboard"


class MetricsWriter:
    """Appends scalars to `workdir/metrics.jsonl` and to TensorBoard events."""

    def __init__(self, workdir: str | os.PathLike, enabled: bool = True):
        self.path = trial_files.path(workdir, trial_files.METRICS_FILE)
        self.enabled = enabled
        self._file: TextIO | None = None
        self._tensorboard = None
        self._trackers: list = []
        if enabled:
            from playbook.train import trackers

            self._trackers = trackers.create(os.fspath(workdir))  # none unless configured
            os.makedirs(os.fspath(workdir), exist_ok=True)
            trial_files.drop_partial_last_line(self.path)
            self._file = open(self.path, "a", encoding="utf-8")  # Closed by close().
            self._tensorboard = _tensorboard_writer(os.path.join(os.fspath(workdir),
                                                                 TENSORBOARD_DIR))

    def write(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Records `scalars` (floats or scalar arrays, read here) at `step`."""
        if not self.enabled:
            return
        values = {k: float(v) for k, v in scalars.items()}
        self._file.write(trial_files.metrics_line(step, values))
        self._file.flush()
        self._tensorboard.write_scalars(int(step), values)
        for tracker in self._trackers:
            tracker.scalars(int(step), values)

    def drop_after(self, step: int) -> None:
        """Removes the records of steps after `step` (written before a resumption from
        `step`); lines that do not parse are kept as they are."""
        if not self.enabled:
            return
        self._file.close()
        trial_files.drop_metrics_after(self.path, step)
        self._file = open(self.path, "a", encoding="utf-8")  # Closed by close().

    def write_hparams(self, hparams: Mapping[str, Any], metrics: Sequence[str] = ()) -> None:
        """Records a trial's hyperparameters (flat dict) for TensorBoard's HParams tab,
        declaring `metrics` (scalar tags) as its metric columns.

        TensorBoard takes the column list from the first experiment summary it finds,
        so every trial of a study declares the same metrics; each cell is the last
        value of that tag in the trial's run.
        """
        if self.enabled:
            plain = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
                     for k, v in hparams.items()}
            self._tensorboard.write_hparams(plain, list(metrics))
            for tracker in self._trackers:
                tracker.hparams(plain)

    def write_tensorboard(self, step: int, scalars: Mapping[str, float]) -> None:
        """Scalars for TensorBoard only (not metrics.jsonl), such as a trial's objective;
        the trackers (trackers.py) get them as the run's summary."""
        if self.enabled:
            values = {k: float(v) for k, v in scalars.items()}
            self._tensorboard.write_scalars(int(step), values)
            for tracker in self._trackers:
                tracker.summary(values)

    def flush(self) -> None:
        if self.enabled:
            self._file.flush()
            self._tensorboard.flush()

    def close(self) -> None:
        if self.enabled and self._file is not None:
            self._file.close()
            self._tensorboard.close()
            for tracker in self._trackers:
                tracker.close()
            self._file = None

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _tensorboard_writer(logdir: str):
    """clu's TensorFlow summary writer when TensorFlow is installed, else tensorboardX."""
    # clu.metric_writers imports TensorFlow at import time: import it only if present.
    if importlib.util.find_spec("tensorflow") is not None:
        from clu import metric_writers

        return _CluWithHparams(metric_writers.SummaryWriter(logdir), logdir)
    return _TensorboardX(logdir)


def _hparams_summaries(hparams: Mapping[str, Any], metrics: Sequence[str]) -> list:
    """TensorBoard's experiment, session-start and session-end summaries (tensorboardX's
    protos): the experiment lists the hyperparameters and the metric columns."""
    from tensorboardX.summary import hparams as hparams_summaries

    return list(hparams_summaries(dict(hparams), {m: 0.0 for m in metrics}))


class _TensorboardX:
    """The part of clu's MetricWriter interface used here, on tensorboardX."""

    def __init__(self, logdir: str):
        import tensorboardX

        self._writer = tensorboardX.SummaryWriter(logdir=logdir, flush_secs=10)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, value, global_step=step)

    def write_hparams(self, hparams: Mapping[str, Any], metrics: Sequence[str] = ()) -> None:
        # Into this run's own event file; tensorboardX's add_hparams would open a new run.
        for summary in _hparams_summaries(hparams, metrics):
            self._writer.file_writer.add_summary(summary)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class _CluWithHparams:
    """clu's TensorFlow writer for scalars; the hparams summaries through tensorboardX
    into the same directory (one run), since clu's own declare no metric columns."""

    def __init__(self, clu_writer, logdir: str):
        self._clu, self._logdir, self._file = clu_writer, logdir, None

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self._clu.write_scalars(step, scalars)

    def write_hparams(self, hparams: Mapping[str, Any], metrics: Sequence[str] = ()) -> None:
        import tensorboardX

        self._file = self._file or tensorboardX.FileWriter(self._logdir)
        for summary in _hparams_summaries(hparams, metrics):
            self._file.add_summary(summary)

    def flush(self) -> None:
        self._clu.flush()
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        self._clu.close()
        if self._file is not None:
            self._file.close()


class Progress:
    """A progress line on stderr: step, steps/s, ETA and the latest loss.

    On a terminal the line is redrawn in place at most every `interval_s`
    (default 1 s); otherwise a plain line is printed at most every 10 s.
    """

    def __init__(self, total_steps: int, stream: TextIO | None = None,
                 interval_s: float | None = None, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.total_steps = total_steps
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else 1.0 if self.tty else 10.0
        self.enabled, self._clock = enabled, clock
        self._last: tuple[float, int] | None = None
        self._drawn = False

    def update(self, step: int, loss: Any = None) -> None:
        """Reports reaching `step`; `loss` (a device scalar is fine) is read only
        when a line is printed, so calling this every step costs no sync."""
        if not self.enabled:
            return
        now = self._clock()
        if self._last is None:
            self._last = (now, step)
            return
        then, last_step = self._last
        if now - then < self.interval_s or step <= last_step:
            return
        self._last = (now, step)
        self._print(self._line(step, (step - last_step) / (now - then), loss))

    def _line(self, step: int, rate: float, loss: Any) -> str:
        eta = datetime.timedelta(seconds=round(max(self.total_steps - step, 0) / rate))
        line = (f"step {step}/{self.total_steps} ({100 * step / self.total_steps:.0f}%)"
                f"  {rate:.1f} steps/s  ETA {eta}")
        return line if loss is None else f"{line}  loss {float(loss):.4g}"

    def _print(self, line: str) -> None:
        if self.tty:
            # Clear the rest of the previous, possibly longer, line.
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Ends a redrawn line so that later output starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
