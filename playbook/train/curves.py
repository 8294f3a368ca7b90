"""The curves an external trainer produced, from what it returned and what it wrote.

Three sources, in order of precedence: the value the trainer returned (a
mapping of step to metrics, or a list of per-step metrics with a `step` key;
a mapping of metric names to numbers counts as the metrics of the last step),
the TensorBoard event files under its workdir (clu's summary writer, which
writes tensor summaries through TensorFlow, or tensorboardX and PyTorch, which
write simple values: both are read through TensorBoard's own loader), and a
`metrics.jsonl` in its workdir (playbook's format: one JSON object per line
with an integer `step`). They are merged step by step, an earlier source
winning a value both have; within the event files a later write wins, so a
resumed trainer's rewrite of a step counts. Event files in a subdirectory
prefix their tags with it (`eval/accuracy` for `eval/` and `accuracy`), as
TensorBoard names runs. This module only reads; nothing is written.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from playbook import trial_files

SOURCES = ("returned", "tensorboard", "metrics.jsonl")
# Names a training loss is logged under, in order; a config's `train_loss_metric` comes first.
TRAIN_LOSS_NAMES = ("train/loss", "train_loss", "training_loss", "train.loss", "loss")


@dataclasses.dataclass(frozen=True)
class Curves:
    """Scalars by step (`{step: {name: value}}`, steps ascending) and the sources
    each name came from."""

    by_step: dict[int, dict[str, float]]
    sources: dict[str, str]  # metric name -> the source its values came from
    # step -> wall time (seconds since the epoch) of its last event in the event files
    wall_times: dict[int, float] = dataclasses.field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted(self.sources)

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric, in step order."""
        pairs = [(s, m[name]) for s, m in self.by_step.items() if name in m]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def describe_sources(self) -> str:
        used = [s for s in SOURCES if s in self.sources.values()]
        return ", ".join(used) if used else "nothing"


def collect(returned: Any, workdir: str, last_step: int | None = None) -> Curves:
    """Every scalar the trainer returned or wrote under `workdir`, merged by step.

    `last_step` places returned final metrics when no source logged a step.
    """
    events, wall_times = read_event_files(workdir)
    jsonl = trial_files.path(workdir, trial_files.METRICS_FILE)
    layers = [("returned", _returned_records(returned)), ("tensorboard", events),
              ("metrics.jsonl", _jsonl_records(jsonl))]
    final = _final_metrics(returned)
    by_step: dict[int, dict[str, float]] = {}
    sources: dict[str, str] = {}
    for source, records in reversed(layers):  # later layers first, earlier ones overwrite
        for step, scalars in records.items():
            by_step.setdefault(step, {}).update(scalars)
            sources.update(dict.fromkeys(scalars, source))
    if final:
        step = max(by_step, default=last_step or 0)
        by_step.setdefault(step, {}).update(final)
        sources.update(dict.fromkeys(final, "returned"))
    return Curves({s: by_step[s] for s in sorted(by_step)}, sources, wall_times)


def train_loss_name(curves: Curves, configured: str | None = None) -> str | None:
    """The name the training loss was logged under, or None."""
    for name in (configured, *TRAIN_LOSS_NAMES):
        if name and name in curves.sources:
            return name
    return None


# -- the returned value --------------------------------------------------------------


def _scalar(value: Any) -> float | None:
    """`value` as a float if it is one number (a Python, NumPy or JAX scalar)."""
    if isinstance(value, bool):
        return None
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like is not a scalar.
        return None
    if array.size != 1 or array.dtype.kind not in "biuf":
        return None
    return float(array.reshape(()))


def _scalars(mapping: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in mapping.items():
        if key != "step" and (number := _scalar(value)) is not None:
            out[str(key)] = number
    return out


def _returned_records(value: Any) -> dict[int, dict[str, float]]:
    if isinstance(value, Mapping) and value and all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in value):
        return {int(k): _scalars(v) for k, v in value.items() if isinstance(v, Mapping)}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        records: dict[int, dict[str, float]] = {}
        for item in value:
            if isinstance(item, Mapping) and (step := _scalar(item.get("step"))) is not None:
                records.setdefault(int(step), {}).update(_scalars(item))
        return records
    return {}


def _final_metrics(value: Any) -> dict[str, float]:
    """A returned mapping of metric names to numbers (no steps): the final metrics."""
    if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
        return _scalars(value)
    return {}


# -- files the trainer wrote -----------------------------------------------------------


def _jsonl_records(path: str) -> dict[int, dict[str, float]]:
    if not os.path.exists(path):
        return {}
    return {int(r["step"]): _scalars(r) for r in trial_files.read_metrics(path, malformed="skip")}


def event_files(workdir: str) -> list[str]:
    """TensorBoard event files under `workdir`, in name order (their names begin with
    a timestamp)."""
    found = []
    for directory, _, files in os.walk(workdir):
        found += [os.path.join(directory, f) for f in files if "tfevents" in f]
    return sorted(found, key=lambda p: (os.path.dirname(p), os.path.basename(p)))


def read_event_files(workdir: str) -> tuple[dict[int, dict[str, float]], dict[int, float]]:
    """Every scalar summary in the event files under `workdir`, by step, and the wall
    time at which each step was last written."""
    from tensorboard import data_compat
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    values: list[tuple[float, int, str, float]] = []  # wall time, step, tag, value
    for path in event_files(workdir):
        run = os.path.relpath(os.path.dirname(path), workdir)
        prefix = "" if run == "." else run.replace(os.sep, "/") + "/"
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                value = data_compat.migrate_value(value)  # simple_value -> scalar tensor
                if value.metadata.plugin_data.plugin_name != "scalars":
                    continue
                number = _scalar(tensor_util.make_ndarray(value.tensor))
                if number is not None:
                    values.append((event.wall_time, int(event.step), prefix + value.tag, number))
    records: dict[int, dict[str, float]] = {}
    wall_times: dict[int, float] = {}
    for wall_time, step, tag, number in sorted(values, key=lambda v: v[0]):  # stable sort
        records.setdefault(step, {})[tag] = number
        wall_times[step] = wall_time
    return records, wall_times
