"""The throughput sweep behind `playbook batch-sizes`: real timings of the training
loop's own program on the synthetic workload (512 training examples), and the
sweep's decisions on constructed throughputs."""

import jax.numpy as jnp
import pytest

from configs import synthetic_mlp
from playbook import cli
from playbook.errors import ConfigError
from playbook.train import loop
from playbook.train import throughput_sweep as ts
from playbook.train.throughput_sweep import OK, OUT_OF_MEMORY, TOO_LARGE, Measurement

FAST = 0.05  # seconds timed per rate: the tests check what is measured, not how fast


@pytest.mark.slow  # three compilations: about 5 s on 2 idle cores, 15 s on busy ones
def test_sweep_doubles_until_the_training_split_is_exceeded():
    sweep = ts.sweep(synthetic_mlp.get_config(), start=128, patience=10, min_seconds=FAST)
    sizes = [m.batch_size for m in sweep.measurements]
    assert sizes == [128, 256, 512, 1024]
    assert [m.status for m in sweep.measurements] == [OK] * 3 + [TOO_LARGE]
    assert "larger than the 512 training examples" in sweep.measurements[-1].error
    for m in sweep.measurements[:3]:
        assert m.examples_per_second > 0 and m.compute_examples_per_second > 0
        # Whole dispatches of the loop's scan (its steps_per_dispatch divides the steps).
        assert m.steps >= ts.MIN_DISPATCHES and m.steps % 25 == 0
    assert sweep.stop_reason == "batch size 1024 is larger than the training split"
    assert sweep.largest_useful in sizes[:3]
    assert "largest useful batch size" in sweep.text()


def test_sweep_reuses_the_training_loops_compiled_program():
    config = synthetic_mlp.get_config()
    ts.measure(config, 128, FAST)
    traced = loop.TRACE_COUNTS["train"]
    assert ts.measure(config, 128, FAST).status == OK
    assert loop.TRACE_COUNTS["train"] == traced  # the cached program: no new trace


def test_xla_out_of_memory_ends_the_sweep_as_a_result(monkeypatch):
    start = loop.start

    def start_or_exhaust(trial, progs=None):
        if trial.batch_size >= 256:  # a real XLA allocation failure: 16 TiB on the host
            jnp.zeros((2 ** 42,), jnp.float32).block_until_ready()
        return start(trial, progs)

    monkeypatch.setattr(loop, "start", start_or_exhaust)
    sweep = ts.sweep(synthetic_mlp.get_config(), start=128, patience=10, min_seconds=FAST)
    assert [(m.batch_size, m.status) for m in sweep.measurements] == [
        (128, OK), (256, OUT_OF_MEMORY)]
    assert "RESOURCE_EXHAUSTED" in sweep.measurements[-1].error
    assert sweep.stop_reason == "out of memory at batch size 256"
    assert sweep.largest_useful == 128


def constructed(rates):
    """A measure function returning (examples/s, compute-only examples/s) per batch size."""
    def measure(config, batch_size, seconds):
        if batch_size not in rates:
            return Measurement(batch_size, TOO_LARGE)
        fed, compute = rates[batch_size]
        return Measurement(batch_size, OK, fed, compute, steps=100)
    return measure


def test_throughput_that_stops_growing_ends_the_sweep_after_patience_doublings():
    rates = {8: (100, 100), 16: (200, 200), 32: (390, 390), 64: (400, 800), 128: (405, 1500),
             256: (420, 2000)}
    sweep = ts.sweep(None, start=8, measure_fn=constructed(rates))
    assert [m.batch_size for m in sweep.measurements] == [8, 16, 32, 64, 128]
    assert sweep.largest_useful == 32
    assert sweep.stop_reason.startswith("throughput stopped growing: 2 doubling(s)")
    # The program alone kept doubling while fed examples/s stalled: the input pipeline.
    assert len(sweep.flags) == 1 and sweep.flags[0].startswith(
        "input-bound: from batch size 32 to 64 examples/s grew 1.03x while the program "
        "alone grew 2.05x")


def test_a_saturated_device_is_not_called_input_bound_and_a_slow_first_doubling_is_flagged():
    saturated = {8: (100, 110), 16: (190, 200), 32: (200, 205), 64: (201, 206)}
    sweep = ts.sweep(None, start=8, measure_fn=constructed(saturated))
    assert sweep.flags == () and sweep.largest_useful == 16
    slow = {8: (100, 100), 16: (120, 200), 32: (300, 300)}
    sweep = ts.sweep(None, start=8, max_batch_size=32, measure_fn=constructed(slow))
    assert sweep.stop_reason == "reached max_batch_size 32" and sweep.largest_useful == 32
    assert sweep.flags[0].startswith("not doubling: examples/s grew only 1.20x from batch "
                                     "size 8 to 16")


def test_sweep_arguments_are_checked_before_anything_runs():
    with pytest.raises(ConfigError, match="0 < start <= max_batch_size"):
        ts.sweep(None, start=64, max_batch_size=32, measure_fn=constructed({}))
    with pytest.raises(ConfigError, match="min_gain"):
        ts.sweep(None, start=8, min_gain=0, measure_fn=constructed({}))


def test_batch_sizes_command_prints_the_table_and_rejects_bad_input(root, capsys):
    config = str(root / "configs" / "synthetic_mlp.py")
    assert cli.main(["batch-sizes", "--config", config, "--start", "128", "--seconds", "0.05",
                     "--patience", "5"]) == 0
    out = capsys.readouterr().out
    assert "stopped: batch size 1024 is larger than the training split" in out
    assert out.count(" ok") == 0 and "largest useful batch size:" in out
    assert cli.main(["batch-sizes", "--config", config, "--start", "0"]) == 2
    assert "the sweep needs 0 < start" in capsys.readouterr().err
    assert cli.main(["batch-sizes", "--config", config, "--config.optimiser=sgd"]) == 2
    assert "optimiser" in capsys.readouterr().err
