"""Steps to result, scaling regimes, budgets and the first max_train_steps, on constructed
curves and studies whose answers are known (Shallue et al. 2018; the playbook's
learning-rate sweep for max_train_steps)."""

import math
import os

import numpy as np
import pandas as pd
import pytest
from test_analysis_load import write_study, write_trial

from playbook import cli
from playbook.analysis import scaling, scaling_plots
from playbook.errors import ConfigError

LR = {"kind": "float", "low": 1e-3, "high": 1.0, "scale": "log"}
MOMENTUM = {"kind": "float", "low": 0.8, "high": 0.99, "scale": "reverse_log"}
CONSTANT = {"schedule": "constant", "optimizer": "nesterov"}


def falling(first, last, steps):
    """A validation curve falling linearly from `first` to `last` over `steps`."""
    return steps, np.linspace(first, last, len(steps))


# -- steps to result ---------------------------------------------------------------------


def test_first_step_reaching_is_the_first_evaluation_at_or_beyond_the_target():
    steps = np.array([30.0, 10, 20, 40])  # unsorted on purpose
    error = np.array([0.3, 0.6, 0.45, 0.2])
    assert scaling.first_step_reaching(steps, error, 0.45, "minimize") == 20
    assert scaling.first_step_reaching(steps, error, 0.3, "minimize") == 30
    assert math.isnan(scaling.first_step_reaching(steps, error, 0.1, "minimize"))
    assert scaling.first_step_reaching(steps, 1 - error, 0.6, "maximize") == 30
    assert scaling.first_step_reaching([10, 20], [math.nan, 0.1], 0.5, "minimize") == 20


@pytest.fixture
def batch_study(tmp_path):
    """Three batch sizes: 32 reached by two trials (steps 60 and 100), 64 by one after its
    diverged and rerun siblings, 128 never."""
    root = write_study(tmp_path / "bs", scientific={"batch_size": [32, 64, 128]},
                       nuisance={"learning_rate": LR, "momentum": MOMENTUM}, baseline=CONSTANT)
    steps = np.arange(20, 201, 20, dtype=float)  # 10 evaluations

    def trial(tid, b, lr, valid, **kw):
        write_trial(root, tid, {"batch_size": b}, {"learning_rate": lr, "momentum": 0.9},
                    valid=(steps, np.asarray(valid, dtype=float)), objective=min(valid), **kw)

    trial("0000", 32, 0.01, [.9, .8, .7, .6, .5, .45, .4, .38, .36, .35])      # 0.4 at 140
    trial("0001", 32, 0.1, [.8, .6, .5, .4, .39, .38, .37, .36, .35, .35])      # 0.4 at 80
    trial("0002", 64, 0.01, [.7, .6, .5, .45, .42, .41, .40, .39, .38, .37])    # 0.4 at 140
    trial("0003", 64, 0.3, [.5, .38, .3, .3, .3, .3, .3, .3, .3, .3], status="diverged")
    trial("0003-seed1", 64, 0.3, [.39] * 10, repeats="0003", seed=1)  # a rerun, not a point
    trial("0004", 128, 0.01, [.9, .8, .7, .6, .55, .5, .5, .5, .5, .5])
    trial("0005", 128, 0.1, [.9, .8, .7, .6, .55, .5, .45, .45, .45, .45])
    return root


def test_steps_to_result_is_the_fastest_trial_per_batch_size_and_unreached_is_reported(
        batch_study):
    table = scaling.steps_to_result(batch_study, 0.4).set_index("batch_size")
    assert table.loc[32, "steps"] == 80 and table.loc[32, "trial_id"] == "0001"
    assert table.loc[32, "reaching"] == 2 and table.loc[32, "learning_rate"] == 0.1
    # The diverged trial and the seed rerun reach 0.4 sooner but do not count.
    assert table.loc[64, "steps"] == 140 and table.loc[64, "trial_id"] == "0002"
    assert table.loc[64, "infeasible"] == 1 and table.loc[64, "trials"] == 1
    assert not table.loc[128, "reached"] and math.isnan(table.loc[128, "steps"])
    assert table.loc[128, "trials"] == 2 and pd.isna(table.loc[128, "trial_id"])
    assert table.attrs == {"metric": "valid/error_rate", "target": 0.4, "goal": "minimize"}


def test_steps_to_result_reads_any_logged_metric_and_rejects_an_unlogged_one(batch_study):
    table = scaling.steps_to_result(batch_study, 1.0, metric="train/loss")
    assert table.attrs["goal"] == "minimize" and table["reached"].all()
    with pytest.raises(ConfigError, match="'valid/eror_rate' was never logged.*did you mean "
                                          "'valid/error_rate'"):
        scaling.steps_to_result(batch_study, 0.4, metric="valid/eror_rate")


# -- regimes -----------------------------------------------------------------------------

BATCHES = 2.0 ** np.arange(3, 15)  # 8 ... 16384


def three_regimes(noise=0.0, seed=0):
    """Slope -1 up to 256, -0.5 up to 2048, flat beyond; optional multiplicative noise."""
    b = BATCHES
    steps = np.where(b <= 256, 1e6 / b, np.where(b <= 2048, 1e6 / 256 * np.sqrt(256 / b),
                                                 1e6 / 256 * np.sqrt(256 / 2048)))
    return steps * np.exp(np.random.default_rng(seed).normal(0, noise, len(b)))


def test_regimes_of_a_three_regime_curve_are_found_where_they_were_built():
    regimes = scaling.classify_regimes(BATCHES, three_regimes())
    assert list(regimes.segments["regime"]) == (
        [scaling.PERFECT] * 5 + [scaling.DIMINISHING] * 3 + [scaling.MAXIMAL] * 3)
    assert regimes.segments["slope"].iloc[0] == pytest.approx(-1.0)
    assert regimes.perfect_until == 256 and regimes.maximal_from == 2048


@pytest.mark.parametrize("seed", range(5))
def test_regimes_survive_three_percent_noise_in_the_step_counts(seed):
    regimes = scaling.classify_regimes(BATCHES, three_regimes(noise=0.03, seed=seed))
    assert regimes.perfect_until == 256 and regimes.maximal_from == 2048


def test_a_curve_that_never_flattens_has_no_maximal_parallelism_and_unreached_are_listed():
    steps = 1e5 / BATCHES[:6]
    steps[2] = np.nan  # batch size 32: goal not reached
    regimes = scaling.classify_regimes(BATCHES[:6][::-1], steps[::-1])  # any order
    assert regimes.unreached == (32.0,)
    assert regimes.perfect_until == 256 and regimes.maximal_from is None
    assert list(regimes.segments["batch_size"]) == [8, 16, 64, 128]
    assert "goal not reached at batch size 32" in regimes.summary()


def test_implausible_doublings_are_noted_but_still_classified():
    regimes = scaling.classify_regimes([16, 32, 64, 128], [800, 200, 200, 300])
    assert list(regimes.segments["regime"]) == [scaling.PERFECT, scaling.MAXIMAL,
                                                scaling.MAXIMAL]
    notes = list(regimes.segments["note"])
    assert notes[0].startswith("steeper than perfect scaling") and notes[1] == ""
    assert notes[2].startswith("rising")
    assert "16 -> 32: slope -2.00 (perfect scaling); steeper than" in regimes.summary()


def test_a_flat_curve_is_maximal_parallelism_from_its_first_batch_size():
    regimes = scaling.classify_regimes([16, 32, 64], [100, 98, 101])
    assert regimes.perfect_until is None and regimes.maximal_from == 16


def test_regime_thresholds_must_be_ordered_and_batch_sizes_distinct():
    with pytest.raises(ValueError, match="must be below"):
        scaling.classify_regimes([1, 2], [2, 1], perfect=-0.1, flat=-0.5)
    with pytest.raises(ValueError, match="distinct"):
        scaling.classify_regimes([4, 4], [2, 1])


# -- learning rates ----------------------------------------------------------------------


def test_learning_rate_rules_and_the_effective_learning_rate():
    rules = scaling.scaling_rules([64, 256, 1024], 64, 0.1)
    assert rules["linear"].tolist() == pytest.approx([0.1, 0.4, 1.6])
    assert rules["sqrt"].tolist() == pytest.approx([0.1, 0.2, 0.4])
    table = pd.DataFrame({"learning_rate": [0.1, 0.2], "momentum": [0.9, 0.99]})
    assert scaling.effective_learning_rate(table).tolist() == pytest.approx([1.0, 20.0])
    assert scaling.log_log_slope([1, 2, 4, 8], [3, 6, 12, 24]) == pytest.approx(1.0)
    assert math.isnan(scaling.log_log_slope([1, 2], [np.nan, 3]))


def test_steps_to_result_figures_mark_unreached_goals_and_the_perfect_scaling_line(
        batch_study):
    table = scaling.steps_to_result(batch_study, 0.4)
    fig = scaling_plots.steps_to_result_plot(table)
    ax = fig.axes[0]
    perfect = next(line for line in ax.lines if "perfect scaling" in line.get_label())
    x, y = perfect.get_data()
    assert x[0] == 32 and y[0] == 80 and x[-1] == 128 and y[-1] == pytest.approx(20)
    labels = [c.get_label() for c in ax.collections]
    assert "goal not reached (1)" in labels
    fig = scaling_plots.learning_rate_plot(table)
    linear = next(line for line in fig.axes[0].lines if "linear" in line.get_label())
    # From the fastest effective lr at batch 32 (0.1 / (1 - 0.9) = 1): doubling per doubling.
    assert linear.get_data()[1].tolist() == pytest.approx([1.0, 2.0, 4.0])


# -- budgets -----------------------------------------------------------------------------


def test_epoch_budget_reads_shorter_budgets_off_the_curves_of_a_constant_lr_study(batch_study):
    # 3200 examples, 1 epoch: batch 32 gets 100 steps, 64 gets 50, 128 gets 25.
    table = scaling.budget_comparison(batch_study, num_train_examples=3200, epochs=1)
    table = table.set_index("batch_size")
    assert table.loc[32, "epoch_budget_steps"] == 100
    assert table.loc[32, "epoch_budget_best"] == 0.39     # 0001 at step 100
    assert table.loc[64, "epoch_budget_best"] == 0.6      # 0002 at step 40
    assert table.loc[128, "epoch_budget_best"] == 0.9     # first evaluation, step 20
    assert table.loc[32, "step_budget_best"] == 0.35 and table.loc[128, "step_budget_best"] == 0.45
    longer = scaling.budget_comparison(batch_study, 3200, epochs=10).set_index("batch_size")
    assert math.isnan(longer.loc[32, "epoch_budget_best"])  # 1000 steps were never run


def test_epoch_budget_refuses_a_decaying_schedule(tmp_path):
    root = write_study(tmp_path / "cos", scientific={"batch_size": [32, 64]},
                       nuisance={"learning_rate": LR}, baseline={"schedule": "cosine"})
    with pytest.raises(ConfigError, match="schedule is 'cosine': fix schedule='constant'"):
        scaling.budget_comparison(root, 3200, 1)


# -- the first max_train_steps -----------------------------------------------------------


def lr_sweep(tmp_path, lrs_and_fit_steps, baseline=CONSTANT):
    """A learning-rate sweep whose trial with lr reaches train loss 0.01 at its step
    (None: never)."""
    root = write_study(tmp_path / "sweep", scientific={"optimizer": ["nesterov"]},
                       nuisance={"learning_rate": LR}, baseline=baseline)
    steps = np.arange(10, 201, 10, dtype=float)
    for i, (lr, fit) in enumerate(lrs_and_fit_steps):
        loss = np.where(steps < (fit or 1e9), 1.0, 0.005)
        write_trial(root, f"{i:04d}", {"optimizer": "nesterov"}, {"learning_rate": lr},
                    train=(steps, loss))
    return root


def test_max_train_steps_is_where_the_fastest_sweep_trial_fits_the_training_set(tmp_path):
    root = lr_sweep(tmp_path, [(0.01, 150), (0.05, 90), (0.2, 120), (0.003, None)])
    s = scaling.max_train_steps_from_sweep(root, 0.01)
    assert (s.max_train_steps, s.trial_id, s.learning_rate) == (90, "0001", 0.05)
    assert (s.reaching, s.trials, s.sweep_steps, s.edge, s.warnings) == (3, 4, 200, None, ())
    assert "suggested first max_train_steps: 90" in s.text()


def test_a_fastest_learning_rate_at_the_edge_and_regularisation_are_warned_about(tmp_path):
    root = lr_sweep(tmp_path, [(0.01, 150), (0.9, 60)],
                    baseline={**CONSTANT, "weight_decay": 1e-4})
    s = scaling.max_train_steps_from_sweep(root, 0.01)
    assert s.max_train_steps == 60 and s.edge == "high"
    assert "upper edge of the swept range" in s.warnings[0]
    assert "'weight_decay' is not zero" in s.warnings[1]


def test_a_sweep_that_never_fits_says_so(tmp_path):
    root = lr_sweep(tmp_path, [(0.01, None), (0.05, None)])
    s = scaling.max_train_steps_from_sweep(root, 0.01)
    assert s.max_train_steps is None and s.trials == 2
    assert "no trial reached train/loss <= 0.01 within 200 steps" in s.text()


# -- commands ----------------------------------------------------------------------------


def test_steps_to_result_command_prints_regimes_and_writes_figures(batch_study, capsys,
                                                                  tmp_path):
    out = tmp_path / "figs"
    assert cli.main(["steps-to-result", str(batch_study), "--goal", "0.45",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    # 32: 0001 at 80; 64: 0002 at 80; 128: 0005 at 140: flat, then rising.
    assert "32 -> 64: slope +0.00 (maximal parallelism)" in text
    assert "64 -> 128: slope +0.81 (maximal parallelism); rising" in text
    assert "maximal parallelism from batch size 32" in text
    assert sorted(p.name for p in out.iterdir()) == ["learning_rate_scaling.png",
                                                     "steps_to_result.png"]


def test_scaling_commands_reject_bad_input_with_a_one_line_error(batch_study, capsys):
    assert cli.main(["steps-to-result", str(batch_study), "--goal", "0.4",
                     "--key", "batch_sise"]) == 2
    assert "'batch_sise' is not a scientific key" in capsys.readouterr().err
    assert cli.main(["max-train-steps", str(batch_study), "--goal", "0.01",
                     "--metric", "train/los"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'train/loss'" in err and err.count("\n") == 1
    for command in ("max-train-steps", "steps-to-result"):
        assert cli.main([command, str(batch_study), "--goal", "nan"]) == 2
        assert "--goal must be a finite number, e.g. --goal 0." in capsys.readouterr().err
    assert cli.main(["steps-to-result", os.path.join(batch_study, "trials"), "--goal", "0.4"]) == 2
    assert "playbook: error:" in capsys.readouterr().err


def test_the_report_draws_steps_to_result_for_a_batch_size_study_only(batch_study, tmp_path):
    from playbook.analysis import plots

    optimizers = write_study(tmp_path / "opt")
    for i, (name, lr) in enumerate([("nesterov", 0.1), ("adamw", 1e-3)]):
        write_trial(optimizers, f"{i:04d}", {"optimizer": name},
                    {"learning_rate": lr, "weight_decay": 1e-4}, objective=0.3)

    # Best per batch size: 0.35, 0.37, 0.45; every one reaches the least good, 0.45.
    assert scaling.common_target(batch_study) == 0.45
    names = plots.figures(batch_study)
    assert {"steps_to_result", "learning_rate_scaling"} <= set(names)
    assert "steps_to_result" not in plots.figures(optimizers)
