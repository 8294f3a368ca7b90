"""One trial, in this process on one device: it trains for exactly max_train_steps,
evaluates and logs on exactly its steps, records its result, reuses compiled
programs across trials that differ only in scalar hyperparameters, and ends
diverged or failed without raising."""

import json
import math
import os

import numpy as np
import pytest

from configs import mnist1d_cnn, mnist1d_mlp, synthetic_mlp
from playbook import config as config_lib
from playbook import trial_files
from playbook.errors import ConfigError
from playbook.train import evaluation, loop, main, sharding
from playbook.trial_files import Throughput, TrialResult, read_metrics


def synthetic(**values):
    return config_lib.with_values(synthetic_mlp.get_config(), values)


def test_short_synthetic_run_reaches_low_error_and_writes_its_files(tmp_path):
    res = loop.train_and_evaluate(synthetic(), tmp_path)

    assert res.status == "done" and res.error is None
    assert res.steps == res.max_train_steps == 200
    assert res.best["valid/error_rate"] < 0.05
    assert res.metric == "valid/error_rate" and res.goal == "minimize"
    assert res.best_step in (50, 100, 150, 200)
    last = read_metrics(tmp_path / "metrics.jsonl")[-1]
    assert res.final == {k: v for k, v in last.items() if k.startswith("valid/")}
    assert res.throughput.steps_per_second > 0
    assert res.best_checkpoint == str(tmp_path / "checkpoints" / str(res.best_step))
    assert TrialResult.from_json((tmp_path / "result.json").read_text()) == res
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == config_lib.to_dict(synthetic())


def test_train_metrics_every_log_step_and_validation_metrics_every_eval_step(tmp_path):
    loop.train_and_evaluate(synthetic(), tmp_path)
    records = read_metrics(tmp_path / "metrics.jsonl")

    assert [r["step"] for r in records] == list(range(25, 201, 25))
    for r in records:
        assert {"train/loss", "train/grad_norm", "train/learning_rate",
                "train/examples_per_second"} <= set(r)
        has_valid = {"valid/loss", "valid/error_rate", "valid/accuracy"} <= set(r)
        assert has_valid == (r["step"] % 50 == 0)
    # Cosine decay from 3e-3 to 0 over 200 steps; logged: the rate of the log step's
    # own update, number step - 1.
    assert records[3]["step"] == 100
    assert records[3]["train/learning_rate"] == pytest.approx(
        3e-3 * 0.5 * (1 + math.cos(math.pi * 99 / 200)), rel=1e-5)
    assert records[-1]["train/loss"] < records[0]["train/loss"]


def test_logs_and_evaluations_fall_on_their_steps_when_intervals_do_not_divide(tmp_path):
    config = synthetic(max_train_steps=110, eval_every_steps=40, log_every_steps=25)
    res = loop.train_and_evaluate(config, tmp_path)
    records = read_metrics(tmp_path / "metrics.jsonl")

    assert res.steps == 110
    assert [r["step"] for r in records] == [25, 40, 50, 75, 80, 100, 110]
    assert [r["step"] for r in records if "valid/loss" in r] == [40, 80, 110]


def test_dispatch_length_is_the_largest_divisor_of_the_intervals_within_the_setting():
    assert loop.dispatch_length(32, 200, 50, 25) == 25
    assert loop.dispatch_length(32, 2000, 250, 50) == 25
    assert loop.dispatch_length(64, 2048, 2048, 64) == 64
    assert loop.dispatch_length(32, 110, 40, 25) == 5
    assert loop.dispatch_length(1, 200, 50, 25) == 1


def test_steps_per_dispatch_is_automatic_one_for_convolutions_on_cpu_else_fused():
    # XLA:CPU runs convolutions inside a loop several times slower (benchmarks/).
    cnn = config_lib.with_values(mnist1d_cnn.get_config(), {"model.depth": 1})
    assert loop.setup(cnn).steps_per_dispatch == 1
    assert loop.setup(synthetic()).steps_per_dispatch == 25  # divides the log interval
    with_setting = synthetic()
    with with_setting.unlocked():
        with_setting.steps_per_dispatch = 5
    assert loop.setup(with_setting).steps_per_dispatch == 5


def test_rerun_of_a_finished_trial_returns_the_stored_result_without_training(tmp_path):
    first = loop.train_and_evaluate(synthetic(), tmp_path)
    metrics_before = (tmp_path / "metrics.jsonl").read_text()

    again = loop.train_and_evaluate(synthetic(), tmp_path)

    assert again == first
    assert (tmp_path / "metrics.jsonl").read_text() == metrics_before


def test_best_checkpoint_re_evaluated_gives_exactly_the_recorded_metrics(tmp_path):
    # Selecting by validation loss with a constant, too-high learning rate makes an
    # earlier checkpoint the best one rather than the last.
    config = synthetic(metric="valid/loss", schedule="constant", learning_rate=0.05,
                       eval_every_steps=25)
    res = loop.train_and_evaluate(config, tmp_path)

    step, metrics = loop.evaluate_checkpoint(config, tmp_path)

    assert step == res.best_step < res.max_train_steps
    assert metrics == res.best
    assert res.best["valid/loss"] <= min(r["valid/loss"] for r in
                                         read_metrics(tmp_path / "metrics.jsonl"))


def test_absurd_learning_rate_is_a_diverged_result_not_an_exception(tmp_path):
    config = synthetic(optimizer="sgd", learning_rate=1e6, schedule="constant")

    res = loop.train_and_evaluate(config, tmp_path)

    assert res.status == "diverged"
    assert res.error is None and not (tmp_path / "error.txt").exists()
    assert res.steps < res.max_train_steps
    assert trial_files.read_result(tmp_path) == res
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert records[-1]["step"] == res.steps
    loss = records[-1]["train/loss"]
    assert not math.isfinite(loss) or loss > 10 * records[0]["train/loss"]
    assert res.objective is None


def test_a_second_trial_differing_only_in_learning_rate_does_not_retrace(tmp_path):
    first = loop.train_and_evaluate(synthetic(learning_rate=3e-3), tmp_path / "a")
    traces = dict(loop.TRACE_COUNTS)

    second = loop.train_and_evaluate(synthetic(learning_rate=1e-2, weight_decay=1e-4),
                                     tmp_path / "b")

    assert dict(loop.TRACE_COUNTS) == traces
    assert traces["train"] >= 1 and traces["eval"] >= 1
    assert second.final["valid/loss"] != first.final["valid/loss"]  # the new values were used


def test_a_different_optimizer_is_a_different_program(tmp_path):
    loop.train_and_evaluate(synthetic(), tmp_path / "a")
    before = loop.TRACE_COUNTS["train"]
    loop.train_and_evaluate(synthetic(optimizer="momentum"), tmp_path / "b")
    assert loop.TRACE_COUNTS["train"] == before + 1


def test_an_exception_during_training_is_a_failed_result_with_its_traceback(tmp_path,
                                                                             monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(evaluation, "evaluate", broken)

    res = loop.train_and_evaluate(synthetic(), tmp_path)

    assert res.status == "failed"
    assert "RuntimeError: evaluation broke" in res.error
    assert "Traceback" in (tmp_path / "error.txt").read_text()
    assert trial_files.read_result(tmp_path).status == "failed"
    assert res.steps == 50  # the train metrics of the first evaluation step were read


def test_a_failed_trial_is_trained_again_when_rerun(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(evaluation, "evaluate", lambda *a, **k: 1 / 0)
        assert loop.train_and_evaluate(synthetic(), tmp_path).status == "failed"
    assert loop.train_and_evaluate(synthetic(), tmp_path).status == "done"


def test_unknown_metric_is_a_config_error_naming_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="valid/error_rate"):
        loop.train_and_evaluate(synthetic(metric="valid/eror_rate"), tmp_path)
    assert not (tmp_path / "result.json").exists()


def test_batch_size_must_divide_over_the_devices():
    sharding.check_batch_size(32, 8)
    with pytest.raises(ConfigError, match="multiple of 8 .e.g. 24 or 32"):
        sharding.check_batch_size(30, 8)


def test_eval_batch_size_is_at_least_the_batch_size_and_a_multiple_of_the_devices():
    assert sharding.eval_batch_size(32, 0, 1) == 32
    assert sharding.eval_batch_size(32, 16, 1) == 32
    assert sharding.eval_batch_size(32, 100, 8) == 104
    assert sharding.eval_batch_size(12, 0, 8) == 16


def test_trial_result_round_trips_through_json_with_nan_as_null():
    res = TrialResult(status="diverged", best_step=50, best={"valid/loss": 0.5},
                      final={"valid/loss": math.nan}, steps=75, max_train_steps=200,
                      metric="valid/loss", goal="minimize",
                      throughput=Throughput(1000.0, 10.0))
    text = res.to_json()
    assert json.loads(text)["final"] == {"valid/loss": None}
    back = TrialResult.from_json(text)
    assert math.isnan(back.final["valid/loss"])
    assert back.best == res.best and back.throughput == res.throughput


def test_train_command_prints_a_summary_and_exits_zero(root, tmp_path, capsys):
    code = main.run(str(root / "configs/synthetic_mlp.py"), ["--config.max_train_steps=100"],
                    str(tmp_path))
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("done: ") and "best valid/error_rate" in out and "steps/s" in out


def test_train_command_says_why_and_at_which_step_a_trial_diverged(root, tmp_path, capsys):
    code = main.run(str(root / "configs/synthetic_mlp.py"), [
        "--config.optimizer=sgd", "--config.learning_rate=1e6", "--config.schedule=constant"],
        str(tmp_path))
    result = trial_files.read_result(tmp_path)
    assert code == 0 and (result.status, result.reason) == ("diverged", "non_finite")
    assert 0 < result.steps < result.max_train_steps == 200
    assert capsys.readouterr().out.startswith(
        f"diverged: {tmp_path}; non_finite at step {result.steps}: the training loss, its "
        f"gradient norm or the metric became NaN or infinite; steps {result.steps}/200; ")


@pytest.mark.parametrize("reason", trial_files.REASONS)
def test_every_reason_is_put_in_words_with_its_step(reason):
    status = "diverged" if reason in trial_files.DIVERGED_REASONS else "failed"
    for steps, at in ((120, "at step 120"), (200, "by the end of training (step 200)")):
        result = TrialResult(status=status, best_step=None, best=None, final=None, steps=steps,
                             max_train_steps=200, metric="valid/loss", goal="minimize",
                             reason=reason)
        assert f"{reason} {at}: {main.REASON_WORDS[reason]}; steps {steps}/200" in \
            main.summary(result, "w")


def test_train_command_exits_one_for_a_failed_trial(root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: 1 / 0)
    code = main.run(str(root / "configs/synthetic_mlp.py"), [], str(tmp_path))
    assert code == 1
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_mnist1d_mlp_short_run_is_well_above_chance(tmp_path):
    config = config_lib.with_values(mnist1d_mlp.get_config(), dict(
        max_train_steps=300, eval_every_steps=100))
    res = loop.train_and_evaluate(config, tmp_path)
    # 10 classes: chance is 0.1. The full 2000-step baseline reaches about 0.6.
    assert res.status == "done"
    assert res.best["valid/accuracy"] > 0.5
    assert np.isclose(res.best["valid/accuracy"] + res.best["valid/error_rate"], 1.0)
    assert os.path.isdir(res.best_checkpoint)


def test_progress_logs_follow_the_current_stderr(monkeypatch):
    """The `playbook train` log handler writes to the stderr of the moment: a stream
    that an earlier command saw and that was closed since is never written to."""
    import io
    import logging
    import sys

    from playbook.train import main as train_main

    logger = logging.getLogger("playbook")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    train_main._show_progress_logs()
    logger.info("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logger.info("two")
    assert second.getvalue() == "two\n"
