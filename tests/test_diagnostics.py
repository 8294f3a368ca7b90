"""The playbook's checks on constructed curves and studies whose answer is known:
each check fires on the pattern it names and stays quiet on a healthy one."""

import json

import numpy as np
import pytest
from test_analysis_load import smooth_curve, write_study, write_trial

from playbook import search as hp
from playbook.analysis import curve_shapes, diagnose, space_findings
from playbook.analysis.finding import flatten
from playbook.analysis.load import Study

RNG = np.random.default_rng(0)
STEPS = np.arange(10, 201, 10, dtype=float)  # 20 evaluations over 200 steps


def codes(findings):
    return [f.code for f in findings]


def by_code(findings, code):
    """The findings of `code`, folded ones (Finding.related) included."""
    matches = [f for f in flatten(findings) if f.code == code]
    assert matches, f"no '{code}' finding in {codes(findings)}"
    return matches


# -- curves ----------------------------------------------------------------------------


def test_noise_level_measures_noise_and_ignores_a_linear_trend():
    noise = RNG.normal(0, 0.1, 400)
    assert curve_shapes.noise_level(np.linspace(5, 0, 400) + noise) == pytest.approx(0.1, rel=0.15)
    assert curve_shapes.noise_level(np.linspace(5, 0, 400)) == pytest.approx(0.0, abs=1e-9)


def test_a_quantized_metric_moves_in_steps_of_one_example():
    assert curve_shapes.resolution_of(np.array([3, 2, 5, 1, 9, 4, 2]) / 256) == pytest.approx(1 / 256)
    assert curve_shapes.resolution_of(np.array([10, 4, 4, 4]) / 256) == 0.0  # too few to tell
    assert curve_shapes.resolution_of(RNG.uniform(0, 1, 50)) == 0.0


def test_one_example_more_or_less_is_not_a_trend():
    steps, q = np.array([50.0, 100, 150, 200]), 1 / 256
    error = np.array([2, 3, 2, 1]) / 256             # one example better at the last eval
    assert curve_shapes.still_improving(steps, error, "minimize", 200, q) is None
    assert curve_shapes.still_improving(steps, error, "minimize", 200) is not None
    assert curve_shapes.overfitting(steps, np.array([3, 1, 2, 2]) / 256, "minimize", q) is None
    assert curve_shapes.still_improving(steps, np.array([9, 7, 4, 1]) / 256, "minimize",
                                       200, q) is not None


def test_a_curve_is_never_both_still_improving_and_saturated():
    steps = np.array([50.0, 100, 150, 200])
    error = np.array([2, 3, 2, 1]) / 256
    assert curve_shapes.still_improving(steps, error, "minimize", 200) is not None
    assert curve_shapes.saturated_at(steps, error, "minimize", 200) is None


def test_validation_error_rising_after_its_best_is_overfitting():
    valid = np.concatenate([np.linspace(0.8, 0.2, 10), np.linspace(0.21, 0.35, 10)])
    assert curve_shapes.overfitting(STEPS, valid, "minimize") == pytest.approx(0.14, abs=0.01)


def test_validation_accuracy_falling_after_its_best_is_overfitting():
    accuracy = 1 - np.concatenate([np.linspace(0.8, 0.2, 10), np.linspace(0.21, 0.35, 10)])
    assert curve_shapes.overfitting(STEPS, accuracy, "maximize") is not None
    improving = 1 - np.linspace(0.8, 0.2, 20)
    assert curve_shapes.overfitting(STEPS, improving, "maximize") is None


def test_a_noisy_plateau_is_not_overfitting():
    valid = np.concatenate([np.linspace(0.8, 0.3, 6), 0.3 + RNG.normal(0, 0.01, 14)])
    assert curve_shapes.overfitting(STEPS, valid, "minimize") is None


def test_high_late_noise_is_flagged_and_a_smooth_curve_is_not():
    smooth = 0.2 + 0.6 * np.exp(-STEPS / 40)
    noisy = smooth + np.where(np.arange(20) % 2, 0.08, -0.08) * (STEPS > 100)
    assert curve_shapes.late_noise(STEPS, noisy, 200) > curve_shapes.NOISY_VALID
    assert curve_shapes.late_noise(STEPS, smooth, 200) is None
    assert curve_shapes.late_noise(STEPS[:4], noisy[:4], 200) is None  # too few points


def test_a_curve_still_falling_at_the_end_is_still_improving():
    valid = np.linspace(0.8, 0.3, 20)
    assert curve_shapes.still_improving(STEPS, valid, "minimize", 200) == pytest.approx(
        0.2, abs=0.03)
    flat = np.concatenate([np.linspace(0.8, 0.3, 8), np.full(12, 0.3)])
    assert curve_shapes.still_improving(STEPS, flat, "minimize", 200) is None


def test_a_curve_flat_from_a_third_of_training_is_saturated_early():
    flat = np.concatenate([np.linspace(0.8, 0.3, 6), 0.3 + RNG.normal(0, 0.002, 14)])
    assert curve_shapes.saturated_at(STEPS, flat, "minimize", 200) == pytest.approx(0.3, abs=0.1)
    assert curve_shapes.saturated_at(STEPS, np.linspace(0.8, 0.3, 20), "minimize", 200) is None


def test_an_overfitting_curve_is_not_also_called_saturated():
    valid = np.concatenate([np.linspace(0.8, 0.2, 5), np.linspace(0.22, 0.4, 15)])
    assert curve_shapes.saturated_at(STEPS, valid, "minimize", 200) is None


def test_a_rising_training_loss_is_flagged_and_a_falling_noisy_one_is_not():
    steps = np.arange(1, 101, dtype=float)
    falling = 0.3 + 2 * np.exp(-steps / 20) + RNG.normal(0, 0.03, 100)
    rising = np.concatenate([2.3 * np.exp(-steps[:40] / 10), 0.05 + 0.02 * (steps[40:] - 40)])
    assert curve_shapes.train_loss_rising(steps, falling) is None
    assert curve_shapes.train_loss_rising(steps, rising) > 0.5


# -- search space ----------------------------------------------------------------------


@pytest.mark.parametrize("spec, value, side", [
    (hp.log(1e-4, 1e-1), 0.09, "high"),
    (hp.log(1e-4, 1e-1), 1.2e-4, "low"),
    (hp.log(1e-4, 1e-1), 3e-3, None),
    (hp.reverse_log(0.8, 0.999), 0.9985, "high"),
    (hp.reverse_log(0.8, 0.999), 0.998, None),  # 87% of the way in log(1 - x)
    (hp.int_range(1, 8), 8, "high"),
    (hp.discrete([10, 100, 1000]), 10, "low"),
    (hp.choice(["relu", "gelu", "silu"]), "relu", None),
])
def test_edge_side_uses_the_specs_own_scale(spec, value, side):
    assert space_findings.edge_side(spec, value) == side


def _lr_study(tmp_path, adamw_lrs, objectives, nesterov_lr=0.09, budget=10):
    """adamw trials at the given learning rates with the given objectives; one nesterov
    trial whose learning rate is mid-range for nesterov (1e-3..1) but would be near
    adamw's upper bound (0.1)."""
    root = write_study(tmp_path / "s", budget=budget)
    for i, (lr, objective) in enumerate(zip(adamw_lrs, objectives)):
        write_trial(root, f"{2 * i:04d}", {"optimizer": "adamw"},
                    {"learning_rate": lr, "weight_decay": 1e-4}, objective=objective)
    write_trial(root, "0099", {"optimizer": "nesterov"},
                {"learning_rate": nesterov_lr, "weight_decay": 1e-4}, objective=0.1)
    return root


def test_best_trial_near_the_upper_bound_is_a_boundary_warning(tmp_path):
    root = _lr_study(tmp_path, [1e-3, 1e-2, 9e-2], [0.4, 0.3, 0.2])
    (finding,) = by_code(diagnose(root), "boundary")
    assert finding.severity == "warning"
    assert finding.numbers["key"] == "learning_rate" and finding.numbers["side"] == "high"
    assert finding.numbers["labels"] == ["optimizer=adamw"]  # nesterov's 0.09 is mid-range
    assert finding.trials == ("0004",)
    assert "expand the search space of 'learning_rate' above 0.1" in finding.recommendation


def test_best_trial_inside_the_range_is_no_boundary_finding(tmp_path):
    root = _lr_study(tmp_path, [1e-3, 3e-3, 9e-2], [0.4, 0.2, 0.3])
    assert "boundary" not in codes(diagnose(root))


def test_branches_at_their_own_bounds_get_a_finding_each_with_its_own_bound(tmp_path):
    """adamw's range is 1e-4..1e-1 and nesterov's 1e-3..1: best trials at each branch's
    lower bound are two findings, each naming its own bound, values and next range."""
    root = _lr_study(tmp_path, [1.1e-4, 1e-2, 5e-2], [0.2, 0.3, 0.4], nesterov_lr=1.1e-3)
    found = {tuple(f.numbers["labels"]): f for f in by_code(diagnose(root), "boundary")}
    assert set(found) == {("optimizer=adamw",), ("optimizer=nesterov",)}
    adamw, nesterov = found[("optimizer=adamw",)], found[("optimizer=nesterov",)]
    assert (adamw.numbers["bound"], nesterov.numbers["bound"]) == (1e-4, 1e-3)
    assert adamw.numbers["values"] == [1.1e-4] and nesterov.numbers["values"] == [1.1e-3]
    assert "below 0.0001 to [1e-05, 0.1]" in adamw.recommendation
    assert "below 0.001 to [0.0001, 1]" in nesterov.recommendation


def test_best_trial_that_is_the_last_point_sampled_toward_a_bound_is_a_boundary(tmp_path):
    """With few trials the best one can sit at 80% of the range (log scale) and still be
    the highest learning rate explored: the optimum may lie beyond it."""
    root = _lr_study(tmp_path / "a", [1e-3, 3e-3, 6e-3, 2.5e-2], [0.4, 0.3, 0.25, 0.2])
    (finding,) = by_code(diagnose(root), "boundary")
    assert finding.numbers["side"] == "high" and finding.numbers["bound"] == 0.1
    assert finding.numbers["sparse"] and finding.trials == ("0006",)
    assert "no trial sampled between it and the bound" in finding.message
    # With three trials the last point explored is as likely chance: no finding.
    fewer = _lr_study(tmp_path / "b", [1e-3, 3e-3, 2.5e-2], [0.4, 0.3, 0.2])
    assert "boundary" not in codes(diagnose(fewer))


def test_a_trial_sampled_beyond_the_best_one_means_the_region_was_explored(tmp_path):
    root = _lr_study(tmp_path, [1e-3, 3e-3, 2.5e-2, 5e-2], [0.4, 0.3, 0.2, 0.35])
    assert "boundary" not in codes(diagnose(root))


def test_best_trial_near_the_lower_bound_names_the_lower_side(tmp_path):
    root = _lr_study(tmp_path, [1.1e-4, 1e-2, 5e-2], [0.2, 0.3, 0.4])
    (finding,) = by_code(diagnose(root), "boundary")
    assert finding.numbers["side"] == "low" and finding.numbers["bound"] == 1e-4


def test_too_few_trials_for_the_nuisance_dimensions(tmp_path):
    root = write_study(tmp_path / "few", budget=4)
    (finding,) = by_code(diagnose(root), "too_few_trials")
    assert finding.numbers == {"budget": 4, "dimensions": 2, "needed": 10,
                               "labels": ["optimizer=nesterov", "optimizer=adamw"]}
    enough = write_study(tmp_path / "enough", budget=10)
    assert "too_few_trials" not in codes(diagnose(enough))


def test_conditional_dimensions_count_only_where_active(tmp_path):
    nuisance = {"learning_rate": {"kind": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
                "momentum": {"kind": "float", "low": 0.8, "high": 0.99, "scale": "reverse_log",
                             "when": {"optimizer": ["nesterov"]}},
                "weight_decay": {"kind": "float", "low": 1e-6, "high": 1e-2, "scale": "log"}}
    root = write_study(tmp_path / "s", nuisance=nuisance, budget=12)
    (finding,) = by_code(diagnose(root), "too_few_trials")
    assert finding.numbers["labels"] == ["optimizer=nesterov"] and finding.numbers["needed"] == 25
    assert space_findings.trials_needed(1) == 1 and space_findings.trials_needed(4) == 50


# -- infeasible trials -----------------------------------------------------------------


def _nesterov_sweep(tmp_path, statuses, objectives):
    root = write_study(tmp_path / "s", budget=10)
    lrs = np.geomspace(2e-3, 0.8, len(statuses))
    for i, (lr, status, objective) in enumerate(zip(lrs, statuses, objectives)):
        write_trial(root, f"{i:04d}", {"optimizer": "nesterov"},
                    {"learning_rate": float(lr), "weight_decay": 1e-4}, status=status,
                    objective=objective)
    return root, lrs


def test_every_trial_above_a_learning_rate_diverged_with_the_best_at_that_edge(tmp_path):
    root, lrs = _nesterov_sweep(tmp_path, ["done"] * 4 + ["diverged"] * 3,
                                [0.5, 0.4, 0.3, 0.2, None, None, None])
    findings = diagnose(root)
    (threshold,) = by_code(findings, "divergence_threshold")
    assert threshold.severity == "warning" and threshold.numbers["at_edge"]
    assert threshold.numbers["threshold"] == pytest.approx(lrs[4])
    assert threshold.trials == ("0004", "0005", "0006")
    assert "warmup" in threshold.recommendation
    (share,) = by_code(findings, "infeasible")
    assert share.severity == "warning" and share.numbers["fraction"] == pytest.approx(3 / 7)


def test_the_same_infeasible_trials_are_one_finding_under_their_cause(tmp_path):
    # Nesterov without momentum: the effective learning rate is the learning rate, so the
    # instability and the learning rate's divergence threshold are about the same trials.
    root, lrs = _nesterov_sweep(tmp_path, ["done"] * 4 + ["diverged"] * 3,
                                [0.5, 0.4, 0.3, 0.2, None, None, None])
    findings = diagnose(root)
    about = [f for f in findings if "0004" in f.trials and f.code != "infeasible"]
    (instability,) = about  # one finding for the three diverged trials, not two
    assert instability.code == "instability"
    assert [f.code for f in instability.related] == ["divergence_threshold"]
    assert "The same trials, seen on one key (not listed again): every optimizer=nesterov " \
           f"trial with learning_rate >= {lrs[4]:.3g} is infeasible" in instability.message
    assert "divergence_threshold" not in codes(findings)


def test_trials_at_chance_at_small_learning_rates_hide_no_divergence_above(tmp_path):
    # Two trials at tiny learning rates ended at chance (infeasible, never trained); the
    # three largest diverged. Each side is its own finding; only the top asks for warmup.
    root, lrs = _nesterov_sweep(tmp_path, ["diverged"] * 2 + ["done"] * 4 + ["diverged"] * 3,
                                [None, None, 0.5, 0.4, 0.3, 0.2, None, None, None])
    for trial in ("0000", "0001"):
        path = tmp_path / "s" / "trials" / trial / "result.json"
        result = json.loads(path.read_text())
        path.write_text(json.dumps({**result, "reason": "at_chance"}))
    high, low = sorted(by_code(diagnose(root), "divergence_threshold"),
                       key=lambda f: -f.numbers["threshold"])
    assert high.severity == "warning" and high.numbers["threshold"] == pytest.approx(lrs[6])
    assert high.trials == ("0006", "0007", "0008") and "warmup" in high.recommendation
    assert low.severity == "info" and low.numbers["threshold"] == pytest.approx(lrs[1])
    assert "(2 trials: 2 at_chance)" in low.message and "warmup" not in low.recommendation


def test_divergence_above_a_threshold_with_the_best_trial_far_below_is_info(tmp_path):
    root, _ = _nesterov_sweep(tmp_path, ["done"] * 4 + ["diverged"] * 2,
                              [0.3, 0.2, 0.3, 0.4, None, None])
    (threshold,) = by_code(diagnose(root), "divergence_threshold")
    assert threshold.severity == "info" and not threshold.numbers["at_edge"]


def test_divergence_scattered_over_the_range_has_no_threshold(tmp_path):
    root, _ = _nesterov_sweep(tmp_path, ["diverged", "done", "diverged", "done", "done"],
                              [None, 0.3, None, 0.2, 0.4])
    findings = diagnose(root)
    assert "divergence_threshold" not in codes(findings)
    assert by_code(findings, "infeasible")[0].numbers["infeasible"] == 2


def test_a_few_infeasible_trials_are_info_and_none_is_no_finding(tmp_path):
    root, _ = _nesterov_sweep(tmp_path, ["done"] * 9 + ["diverged"], [0.3] * 9 + [None])
    assert by_code(diagnose(root), "infeasible")[0].severity == "info"
    clean, _ = _nesterov_sweep(tmp_path / "clean", ["done"] * 3, [0.3, 0.2, 0.3])
    assert "infeasible" not in codes(diagnose(clean))


def test_failed_trials_are_errors_that_name_the_exception(tmp_path):
    root, _ = _nesterov_sweep(tmp_path, ["done", "failed"], [0.3, None])
    findings = diagnose(root)
    assert findings[0].code == "failed_trials" and findings[0].severity == "error"
    assert "RuntimeError: boom" in findings[0].message


# -- checkpoints and curves of a study -------------------------------------------------


def _best_step_study(tmp_path, best_steps):
    root = write_study(tmp_path / "s", budget=10)
    for i, best in enumerate(best_steps):
        write_trial(root, f"{i:04d}", {"optimizer": "adamw"},
                    {"learning_rate": 1e-3 * (i + 1), "weight_decay": 1e-4},
                    objective=0.2 + 0.01 * i, best_step=best)
    return root


def test_best_checkpoints_always_in_the_first_tenth_mean_too_many_steps(tmp_path):
    (finding,) = by_code(diagnose(_best_step_study(tmp_path, [20, 20, 10, 20])),
                         "best_step_early")
    assert finding.numbers["max_fraction"] == 0.1
    assert finding.numbers["latest_best_step"] == 20 and "step 20)" in finding.message
    assert "playbook max-train-steps" in finding.recommendation


def test_best_checkpoints_consistently_in_the_last_quarter_mean_train_longer(tmp_path):
    (finding,) = by_code(diagnose(_best_step_study(tmp_path, [200, 180, 200, 60])),
                         "best_step_late")
    assert finding.numbers["late_share"] == 1.0  # judged on the better half: 200, 180


def test_a_late_best_checkpoint_one_example_better_is_no_reason_to_train_longer(tmp_path):
    root = write_study(tmp_path / "s", budget=10)
    steps = np.array([50.0, 100, 150, 200])
    for i, errors in enumerate([[10, 4, 4, 3], [12, 6, 5, 5], [9, 8, 7, 7], [20, 3, 3, 2]]):
        valid = np.array(errors, dtype=float) / 256
        write_trial(root, f"{i:04d}", {"optimizer": "adamw"},
                    {"learning_rate": 1e-3 * (i + 1), "weight_decay": 1e-4},
                    objective=valid.min(), best_step=200, valid=(steps, valid))
    assert "best_step_late" not in codes(diagnose(root))


def test_best_checkpoints_spread_over_training_are_no_finding(tmp_path):
    findings = diagnose(_best_step_study(tmp_path, [100, 160, 60, 200]))
    assert not {"best_step_early", "best_step_late"} & set(codes(findings))


def test_curve_findings_name_the_trials_that_show_them(tmp_path):
    root = write_study(tmp_path / "s", budget=10)
    overfit = (STEPS, np.concatenate([np.linspace(0.8, 0.2, 8), np.linspace(0.22, 0.4, 12)]))
    write_trial(root, "0000", {"optimizer": "adamw"}, {"learning_rate": 1e-3,
                "weight_decay": 1e-4}, objective=0.2, valid=overfit)
    rising = (STEPS, np.concatenate([np.linspace(1.4, 0.4, 8), np.linspace(0.45, 1.2, 12)]))
    write_trial(root, "0001", {"optimizer": "nesterov"}, {"learning_rate": 1e-2,
                "weight_decay": 1e-4}, objective=0.3, train=rising,
                valid=smooth_curve(0.3, best_step=100))
    healthy = smooth_curve(0.25, best_step=120)
    write_trial(root, "0002", {"optimizer": "adamw"}, {"learning_rate": 3e-3,
                "weight_decay": 1e-4}, objective=0.25, valid=healthy)
    findings = diagnose(Study.load(root))
    assert by_code(findings, "overfitting")[0].trials == ("0000",)
    (bug,) = by_code(findings, "train_loss_rising")
    assert bug.severity == "error" and bug.trials == ("0001",)
    assert findings[0].severity == "error"
    assert "still_improving" not in codes(findings)


def test_a_study_still_running_says_so(tmp_path):
    root = write_study(tmp_path / "s", budget=10)
    write_trial(root, "0000", {"optimizer": "adamw"}, {"learning_rate": 1e-3,
                "weight_decay": 1e-4}, objective=0.2)
    write_trial(root, "0001", {"optimizer": "nesterov"}, {"learning_rate": 1e-2,
                "weight_decay": 1e-4}, result=False)
    (finding,) = by_code(diagnose(root), "running")
    assert finding.numbers == {"finished": 1, "trials": 2}
    empty = write_study(tmp_path / "empty")
    assert by_code(diagnose(empty), "no_results")
