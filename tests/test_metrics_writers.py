"""Metrics writers: the append-only metrics.jsonl and its tolerant reader,
TensorBoard event files, and the terminal progress line."""

import glob
import io
import json
import math
import os
import struct

import jax.numpy as jnp
import pandas as pd
import pytest
from tensorboardX.proto import event_pb2

from playbook.train.metrics import MetricsWriter, Progress
from playbook.trial_files import read_metrics, read_records


def _tensorboard_events(workdir):
    """The events of the TFRecord event files under workdir/tensorboard."""
    for path in sorted(glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        while offset < len(data):
            # Record: uint64 length, uint32 crc, payload, uint32 crc.
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            yield event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4


def _tensorboard_scalars(workdir):
    """{tag: [(step, value)]} of the simple scalars written."""
    scalars = {}
    for event in _tensorboard_events(workdir):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_each_write_is_one_json_line_with_the_step(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write(10, {"train/loss": 0.5, "train/lr": jnp.float32(0.25)})
        writer.write(20, {"valid/error_rate": 0.125})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 10, "train/loss": 0.5, "train/lr": 0.25},
        {"step": 20, "valid/error_rate": 0.125}]


def test_lines_are_readable_while_the_writer_is_open(tmp_path):
    writer = MetricsWriter(tmp_path)
    writer.write(1, {"train/loss": 2.0})
    assert read_records(tmp_path / "metrics.jsonl") == [{"step": 1, "train/loss": 2.0}]
    writer.close()


def test_a_resumed_writer_appends_and_its_values_win(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write(1, {"train/loss": 2.0})
        writer.write(2, {"train/loss": 1.5})
    with MetricsWriter(tmp_path) as writer:  # Resumed from the checkpoint at step 1.
        writer.write(2, {"train/loss": 1.4, "valid/error_rate": 0.3})
    assert len(read_records(tmp_path / "metrics.jsonl")) == 3
    assert read_metrics(tmp_path / "metrics.jsonl") == [
        {"step": 1, "train/loss": 2.0},
        {"step": 2, "train/loss": 1.4, "valid/error_rate": 0.3}]


def test_non_finite_values_are_null_on_disk_and_nan_when_read(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write(1, {"train/loss": float("nan"), "train/grad_norm": float("inf")})
        writer.write(2, {"train/loss": 3.0, "train/grad_norm": 1.0})
    path = tmp_path / "metrics.jsonl"
    assert path.read_text().splitlines()[0] == (
        '{"step": 1, "train/loss": null, "train/grad_norm": null}')
    record = read_records(path)[0]
    assert math.isnan(record["train/loss"]) and math.isnan(record["train/grad_norm"])
    frame = pd.read_json(path, lines=True)
    assert frame["train/loss"].isna().tolist() == [True, False]
    assert frame["train/loss"].iloc[1] == 3.0


def test_truncated_last_line_is_skipped_by_the_reader_and_cut_by_the_next_writer(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsWriter(tmp_path) as writer:
        writer.write(1, {"train/loss": 2.0})
    with open(path, "a") as f:
        f.write('{"step": 2, "train/lo')  # Killed mid-write.
    assert read_records(path) == [{"step": 1, "train/loss": 2.0}]
    with MetricsWriter(tmp_path) as writer:
        writer.write(2, {"train/loss": 1.0})
    assert read_records(path) == [{"step": 1, "train/loss": 2.0}, {"step": 2, "train/loss": 1.0}]


def test_malformed_line_before_the_end_is_an_error_naming_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="metrics.jsonl:2 is not a JSON object"):
        read_records(path)


def test_disabled_writer_writes_nothing(tmp_path):
    with MetricsWriter(tmp_path, enabled=False) as writer:
        writer.write(1, {"train/loss": 2.0})
        writer.write_hparams({"learning_rate": 0.1})
    assert os.listdir(tmp_path) == []


def test_tensorboard_event_file_contains_the_scalars(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write_hparams({"learning_rate": 0.1, "optimizer": "adamw", "model": {"depth": 2}})
        writer.write(10, {"train/loss": 0.5})
        writer.write(20, {"train/loss": 0.25, "valid/error_rate": 0.125})
    scalars = _tensorboard_scalars(tmp_path)
    assert scalars["train/loss"] == [(10, 0.5), (20, 0.25)]
    assert scalars["valid/error_rate"] == [(20, 0.125)]
    plugins = {v.tag: v.metadata.plugin_data.plugin_name
               for e in _tensorboard_events(tmp_path) for v in e.summary.value}
    assert plugins["_hparams_/session_start_info"] == "hparams"


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_prints_at_most_once_per_interval_with_rate_eta_and_loss():
    stream, clock = io.StringIO(), _Clock()
    progress = Progress(1000, stream=stream, interval_s=1.0, clock=clock)
    progress.update(0, loss=jnp.float32(2.0))
    for step in range(1, 100):
        clock.now = step * 0.01  # 100 steps/s
        progress.update(step, loss=jnp.float32(1.5))
    clock.now = 2.0
    progress.update(200, loss=jnp.float32(0.75))
    progress.close()
    lines = stream.getvalue().splitlines()
    # Steps 0..99 span 0.99 s: no line until step 100 at 1.0 s... which never came,
    # so the only line is at step 200, 2 s after the first update.
    assert lines == ["step 200/1000 (20%)  100.0 steps/s  ETA 0:00:08  loss 0.75"]


def test_progress_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream, clock = Terminal(), _Clock()
    progress = Progress(10, stream=stream, clock=clock)
    for step in range(0, 11, 5):
        clock.now = float(step)
        progress.update(step)
    progress.close()
    assert stream.getvalue() == ("\rstep 5/10 (50%)  1.0 steps/s  ETA 0:00:05\x1b[K"
                                 "\rstep 10/10 (100%)  1.0 steps/s  ETA 0:00:00\x1b[K\n")
