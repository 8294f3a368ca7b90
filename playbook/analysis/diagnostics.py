"""The playbook's checks of a study, as findings: what was seen and what to do.

Each check is a pure function of the trials table or the search space (the
shape of one curve is judged in curve_shapes.py; the search space's boundaries
and budget in space_findings.py; instability in stability.py), so it can be tested on
constructed data with a known answer; `diagnose` loads a study and runs them
all. The rules and their advice come from the Deep Learning Tuning Playbook,
sections "Analyzing the results" (boundaries, infeasible trials, training
curves), "Determining the number of steps" (where the best checkpoints land)
and "Choosing the search space" (budget). This module draws nothing and
writes nothing.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from playbook import external
from playbook import search as hp
from playbook.analysis import load as load_lib
from playbook.analysis import stability, tally
from playbook.analysis.curve_shapes import (
    NOISY_TRAIN,
    NOISY_VALID,
    late_half,
    late_noise,
    noise_level,
    oriented,
    overfitting,
    resolution_of,
    saturated_at,
    still_improving,
    train_loss_rising,
)
from playbook.analysis.finding import SEVERITIES, Finding, by_cause
from playbook.analysis.load import Study
from playbook.analysis.space_findings import (
    boundaries,
    budget,
    resolve,
    row_context,
    value_columns,
)
from playbook.goal import Goal

INFEASIBLE_WARN = 0.2      # fraction of infeasible trials worth a warning
EARLY_BEST = 0.1           # Playbook: best checkpoints always in the first 10%
LATE_BEST = 0.75           # Playbook: consistently in the last 25%
LATE_SHARE = 0.8           # "consistently": this share of the trials
CURVE_TRIALS = 3           # best trials per scientific value whose curves are checked
MIN_EVALUATIONS = 3        # evaluations a trial needs for its best step to be judged


def diagnose(study: Study | str | os.PathLike) -> list[Finding]:
    """Every finding about the study, errors first."""
    study = load_lib.as_study(study)
    trials, goal = study.trials, study.goal
    context = study.spec.context()
    findings = progress(trials, goal)
    findings += chance_unknown(trials, study.metric, _chance_from_labels(study))
    findings += infeasible(trials, study.spec.nuisance, goal, context)
    findings += stability.instability(trials, goal, context)
    findings += boundaries(trials, study.spec.nuisance, goal, context)
    findings += budget(study.spec)
    length = external.length_key(study.spec.baseline) or external.LOOP_LENGTH_KEY
    findings += best_steps(trials, goal, study.curves, study.metric, metric_resolution(study),
                           length)
    findings += curves(study, length=length)
    findings = [runnable(f, study.root) for f in by_cause(findings)]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


# -- progress --------------------------------------------------------------------------


def progress(trials: pd.DataFrame, goal: str) -> list[Finding]:
    """Says when the study (its search, or its seed reruns) is still running or no trial of
    the search has finished successfully yet; counted as every view counts (tally)."""
    c = tally.tally(trials, goal).study
    reruns = c.reruns_unfinished
    if c.trials == 0 or c.done == 0:
        return [Finding("info", "no_results", f"no trial of the search has finished "
                        f"successfully yet ({c.ended} of {c.trials} ended)", {"trials": c.trials},
                        "run the study (playbook study --config STUDY --workdir DIR) and "
                        "analyse it when trials are done")]
    if c.unfinished or reruns:
        also = f"; {reruns} of {c.rerun_trials} seed reruns unfinished" if reruns else ""
        return [Finding("info", "running", f"the study is still running: {c.ended} of "
                        f"{c.trials} trials of the search ended ({c.search['running']} running, "
                        f"{c.search['pending']} pending){also}; findings may change",
                        {"finished": c.ended, "trials": c.trials,
                         **({"reruns_unfinished": reruns} if reruns else {})})]
    return []


# -- infeasible trials -----------------------------------------------------------------


def infeasible(trials: pd.DataFrame, nuisance: Mapping[str, hp.Spec | hp.Branches], goal: str,
               context: Mapping[str, Any]) -> list[Finding]:
    """The share of infeasible trials among the finished ones, failed trials (no value, each
    cause once: failed_trials) and divergence thresholds."""
    findings = []  # the trials of the search, as every view counts them (tally)
    ended = load_lib.originals(trials)
    ended = ended[ended["status"].isin(load_lib.ENDED)]
    finished = ended[ended["status"].isin(load_lib.FINISHED)]
    bad = finished[finished["status"] == "diverged"]
    failed = ended[ended["status"] == "failed"]
    if len(failed):
        findings.append(failed_trials(failed, len(ended)))
    if len(bad):
        share = len(bad) / len(finished)
        reasons = load_lib.reasons(bad)
        detail = ", ".join(f"{n} {reason}" for reason, n in reasons.items())
        findings.append(Finding(
            "warning" if share > INFEASIBLE_WARN else "info", "infeasible",
            f"{len(bad)} of {len(finished)} finished trials of the search ({share:.0%}) are infeasible "
            f"({detail})",
            {"infeasible": len(bad), "ended": len(finished), "fraction": share,
             "reasons": reasons},
            "a high share of infeasible trials wastes budget: narrow the ranges that "
            "produce them, or stabilise training (warmup, gradient clipping)"
            if share > INFEASIBLE_WARN else "infeasible trials are expected near the edges "
            "of a good search space; they are shown as red crosses in the axis plots",
            tuple(bad["trial_id"])))
    for key, spec in nuisance.items():
        findings += divergence_threshold(trials, key, spec, goal, context)
    return findings


# Why failed trials have no value (trial_files.FAILED_REASONS), in words, and what to do.
_FAILURES = {
    "exception": ("with an exception", "read trials/<id>/error.txt and fix the cause"),
    "metric_missing": ("without a value of the study's metric",
                       "set the study's metric to one the trainer reports (error.txt lists "
                       "those it found), or make the trainer report it"),
    "timeout": ("past the study's trial_timeout",
                "find why those trials hang, or raise trial_timeout"),
}


def failed_trials(failed: pd.DataFrame, ended: int) -> Finding:
    """Failed trials counted by cause (an exception, a missing metric, a timeout), each with
    the last line of its first message and its own advice."""
    causes: dict[str, list] = {}
    for _, row in failed.iterrows():
        reason = row.get("reason")
        causes.setdefault(reason if isinstance(reason, str) else "exception", []).append(row)
    parts, advice = [], []
    for cause, rows in causes.items():
        words, todo = _FAILURES.get(cause, (f"({cause})", "see error.txt"))
        # The last line of the first message: the exception, or the configuration problem.
        first = next((e.strip().splitlines()[-1] for e in (r["error"] for r in rows)
                      if isinstance(e, str) and e.strip()), "see error.txt")
        parts.append(f"{len(rows)} {words} (first: {first})")
        advice.append(f"{todo} ({cause})")
    return Finding(
        "error", "failed_trials", f"{len(failed)} of {ended} ended trials of the search failed: "
        + "; ".join(parts), {"failed": len(failed), "ended": ended,
                             "causes": {c: len(r) for c, r in causes.items()}},
        "; ".join(advice) + "; then run the study again with --retry_failed",
        tuple(failed["trial_id"]))


def _chance_from_labels(study: Study) -> bool:
    """Whether playbook's own loop trains the study on a metric whose chance level its
    class labels give (results written before chance levels were recorded hold none)."""
    return (not external.trainer_of(study.spec.baseline)
            and study.metric.split("/", 1)[-1] in ("loss", "error_rate", "accuracy"))


def chance_unknown(trials: pd.DataFrame, metric: str, from_labels: bool = False
                   ) -> list[Finding]:
    """Says when no chance level of the metric is known (an external trainer, a workload
    that declares none): a trial that learned nothing then cannot be told from one that
    did, and is ranked as a result. Not said of a metric whose chance level class labels
    give (`from_labels`), whose results may predate recorded chance levels."""
    finished = trials[trials["status"].isin(load_lib.FINISHED)]
    if (from_labels or "chance" not in trials or finished.empty
            or finished["chance"].notna().any()):
        return []
    return [Finding(
        "info", "chance_unknown",
        f"the value of {metric} at chance is unknown ({len(finished)} finished trials): a "
        f"trial that learned nothing cannot be told from one that learned, so it is "
        f"ranked as a result (only a training loss that returns to its first value is "
        f"caught)", {"metric": metric, "trials": len(finished)},
        f"declare it in the baseline: metric_chance = the value of {metric} for a model "
        f"that predicts nothing (e.g. 1 - the largest class's share for an error rate, that "
        f"share for an accuracy, the targets' variance for a squared error), or give the "
        f"workload a chance_levels(dataset) method")]


def divergence_threshold(trials: pd.DataFrame, key: str, spec: hp.Spec | hp.Branches, goal: str,
                         context: Mapping[str, Any]) -> list[Finding]:
    """Per scientific value: is every trial beyond some value of `key` diverged?

    Playbook: if all trials above some learning rate are infeasible and the best
    trial sits at that edge, training is unstable there: stabilise it (warmup,
    gradient clipping) rather than trusting the best trial.
    """
    findings = []
    keys = value_columns(trials)
    for label, group in load_lib.originals(trials).groupby("label", sort=False):
        rows = group[group["status"].isin(load_lib.FINISHED) & group[key].notna()]
        positions = []
        for _, row in rows.iterrows():
            branch = resolve(spec, row_context(row, context, keys))
            if branch is None or isinstance(branch, hp.Choice):
                continue
            positions.append((branch.to_unit(row[key]), row))
        diverged = [(u, r) for u, r in positions if r["status"] == "diverged"]
        done = [(u, r) for u, r in positions if r["status"] == "done" and
                not math.isnan(r["objective"])]
        if len(diverged) < 2 or not done:
            continue
        best = min(done, key=lambda p: Goal.of(goal).loss(p[1]["objective"]))
        for side in ("high", "low"):
            flip = 1.0 if side == "high" else -1.0
            last_good = max(done, key=lambda p: flip * p[0])
            # Judged on each side alone: trials at chance at a tiny learning rate do not hide
            # a threshold of diverging ones at large ones.
            beyond = [(u, r) for u, r in diverged if flip * u > flip * last_good[0]]
            if len(beyond) < 2:
                continue
            first_bad = min(beyond, key=lambda p: flip * p[0])
            beyond = [r for _, r in beyond]
            at_edge = best[1]["trial_id"] == last_good[1]["trial_id"]
            word = "above" if side == "high" else "below"
            threshold = first_bad[1][key]
            where = "is the last stable one" if at_edge else "lies inside the stable region"
            why = ", ".join(f"{n} {r}" for r, n in load_lib.reasons(pd.DataFrame(beyond)).items())
            # Warmup and clipping stabilise large steps; below the best they do not help.
            unstable_edge = at_edge and side == "high"
            findings.append(Finding(
                "warning" if unstable_edge else "info", "divergence_threshold",
                f"every {label} trial with {key} {'>=' if side == 'high' else '<='} "
                f"{threshold:.3g} is infeasible ({len(beyond)} trials: {why}); the best trial "
                f"({best[1]['trial_id']}, {key}={best[1][key]:.3g}) {where}",
                {"key": key, "label": label, "threshold": float(threshold),
                 "diverged": len(beyond), "best": float(best[1][key]), "at_edge": at_edge},
                "training is unstable at the best learning rate's edge: add learning-rate "
                "warmup or gradient clipping, then search again; the optimum may lie in the "
                "unstable region" if unstable_edge else
                f"no action needed; you may end the range of '{key}' at {threshold:.3g} to "
                f"spend fewer trials on the infeasible values {word} it",
                tuple(r["trial_id"] for r in beyond)))
    return findings


# -- checkpoints -----------------------------------------------------------------------


def best_steps(trials: pd.DataFrame, goal: str, curves: pd.DataFrame | None = None,
               metric: str = "", resolution: float = 0.0, length: str = external.LOOP_LENGTH_KEY
               ) -> list[Finding]:
    """Playbook: best checkpoints always in the first 10% of training => too many steps;
    consistently in the last 25% => train longer and re-tune the decay.

    Judged on the better half of each scientific value's done trials: a trial
    with a far too small learning rate improves until the end whatever the length.
    Given the curves, only trials with at least `MIN_EVALUATIONS` evaluations count (a
    trainer that reports only its final metrics has no best step to judge), and a late
    best checkpoint counts only if it beats everything
    before the last quarter by more than noise (and one step of a quantized
    metric): a tie broken by one example is no reason to train longer.
    """
    ranked = load_lib.ranked(trials, goal)
    halves = [g.head(max(1, math.ceil(len(g) / 2))) for _, g in ranked.groupby("label", sort=False)]
    if not halves:
        return []
    rows = pd.concat(halves)
    rows = rows[rows["best_step"].notna() & rows["max_train_steps"].notna()
                & (rows["max_train_steps"] > 0)]
    if curves is not None:  # a best step means something only on a curve of evaluations
        rows = rows[[len(load_lib.curve(curves, t, metric)[0]) >= MIN_EVALUATIONS
                     for t in rows["trial_id"]]]
    if len(rows) < 2:
        return []
    fraction = (rows["best_step"].astype(float) / rows["max_train_steps"].astype(float)).to_numpy()
    ids = tuple(rows["trial_id"])
    numbers = {"trials": len(rows), "median_fraction": float(np.median(fraction)),
               "max_fraction": float(fraction.max()), "min_fraction": float(fraction.min())}
    if np.all(fraction <= EARLY_BEST):
        latest = int(rows["best_step"].max())
        return [Finding(
            "warning", "best_step_early",
            f"every one of the {len(rows)} best trials chose a checkpoint in the first "
            f"{EARLY_BEST:.0%} of training (latest at {fraction.max():.0%} of {length}, "
            f"step {latest})", {**numbers, "latest_best_step": latest},
            f"{length} is likely far too large: shorten it in the next round "
            "(never tune it inside a study); a constant learning-rate sweep without "
            "regularisation gives a first value (playbook max-train-steps SWEEP_DIR --goal "
            "TRAIN_LOSS)", ids)]
    late = fraction >= LATE_BEST
    if curves is not None:
        late &= np.array([_late_gain(curves, t, metric, goal, float(m), resolution) for t, m in
                          zip(rows["trial_id"], rows["max_train_steps"])], dtype=bool)
    share = float(np.mean(late))
    if share >= LATE_SHARE:
        return [Finding(
            "warning", "best_step_late",
            f"{share:.0%} of the {len(rows)} best trials chose a checkpoint in the last "
            f"{1 - LATE_BEST:.0%} of training", {**numbers, "late_share": share},
            f"training is likely compute-bound: raise {length} in the next round and "
            "re-tune the learning-rate decay with it", tuple(np.array(ids)[late]))]
    return []


def _late_gain(curves: pd.DataFrame, trial_id: str, metric: str, goal: str, max_steps: float,
               resolution: float) -> bool:
    """Whether the trial's best value beats its best before the last quarter beyond noise."""
    s, x = oriented(*load_lib.curve(curves, trial_id, metric), goal)
    before = x[s < LATE_BEST * max_steps]
    if not len(before):
        return True
    threshold = max(2 * noise_level(late_half(x)), resolution, 1e-12)
    return bool(before.min() - x.min() > threshold * (1 + 1e-6))


# -- training curves (their shapes: curve_shapes.py) -----------------------------------


def metric_resolution(study: Study) -> float:
    """`resolution_of` the study's metric over every value any trial logged."""
    names = (study.metric, study.metric.split("/", 1)[-1])
    return resolution_of(study.curves.loc[study.curves["metric"].isin(names), "value"])


def curves(study: Study, top: int = CURVE_TRIALS, length: str = external.LOOP_LENGTH_KEY
           ) -> list[Finding]:
    """Checks the training curves of the best few trials of each scientific value."""
    seen: dict[str, list[tuple[str, float]]] = {}
    checked = []
    q = metric_resolution(study)
    for best in load_lib.best_few(study.trials, study.goal, top).values():
        for _, row in best.iterrows():
            trial_id = row["trial_id"]
            max_steps = None if pd.isna(row["max_train_steps"]) else float(row["max_train_steps"])
            steps, valid = study.curve(trial_id, study.metric)
            tsteps, train = study.curve(trial_id, "train/loss")
            if len(steps) == 0 and len(tsteps) == 0:
                continue
            checked.append(trial_id)
            checks = {
                "overfitting": overfitting(steps, valid, study.goal, q),
                "noisy_validation": late_noise(steps, valid, max_steps, NOISY_VALID),
                "noisy_train_loss": late_noise(tsteps, train, max_steps, NOISY_TRAIN),
                "still_improving": still_improving(steps, valid, study.goal, max_steps, q),
                "saturated_early": saturated_at(steps, valid, study.goal, max_steps, q),
                "train_loss_rising": train_loss_rising(tsteps, train),
            }
            for code, amount in checks.items():
                if amount is not None:
                    seen.setdefault(code, []).append((trial_id, amount))
    return [_curve_finding(code, hits, len(checked), study.metric, length)
            for code, hits in seen.items()]


_CURVE_ADVICE = {
    "overfitting": (
        "warning", "the validation {metric} worsens after its best beyond its noise in {n} of "
        "{of} best trials (by up to {amount:.3g})",
        "problematic overfitting: add or tune regularization (weight decay, dropout, data "
        "augmentation) before comparing scientific values"),
    "noisy_validation": (
        "warning", "the validation {metric} varies strongly from evaluation to evaluation late "
        "in training in {n} of {of} best trials (noise up to {amount:.0%} of its range)",
        "high variance hampers comparisons: use a larger batch, more validation data, "
        "learning-rate decay or Polyak averaging"),
    "noisy_train_loss": (
        "warning", "the training loss varies strongly from step to step late in training in {n} "
        "of {of} best trials (noise up to {amount:.0%} of its range)",
        "consider a larger batch, learning-rate decay or Polyak averaging"),
    "still_improving": (
        "warning", "the validation {metric} still improves at the end of training in {n} of "
        "{of} best trials (by up to {amount:.0%} of its range over the last quarter)",
        "training is compute-bound: train longer (raise {length} in the next round)"),
    "saturated_early": (
        "info", "the validation {metric} reached its best (within noise) by {amount:.0%} of "
        "training in {n} of {of} best trials",
        "training saturates long before the end: fewer steps would do; shorten "
        "{length} in the next round to save compute"),
    "train_loss_rising": (
        "error", "the training loss rises after its minimum in {n} of {of} best trials (by up "
        "to {amount:.3g})",
        "a rising training loss usually means a bug (data pipeline, loss, schedule) or an "
        "instability: inspect the curves before trusting these results"),
}


def _curve_finding(code: str, hits: list[tuple[str, float]], checked: int, metric: str,
                   length: str = external.LOOP_LENGTH_KEY) -> Finding:
    severity, message, advice = _CURVE_ADVICE[code]
    amounts = [a for _, a in hits]
    amount = min(amounts) if code == "saturated_early" else max(amounts)
    return Finding(severity, code,
                   message.format(metric=metric, n=len(hits), of=checked, amount=amount),
                   {"trials": len(hits), "checked": checked, "amount": amount,
                    "per_trial": {t: a for t, a in hits}},
                   advice.format(length=length), tuple(t for t, _ in hits))


# -- commands in recommendations -------------------------------------------------------

_STUDY_COMMAND = re.compile(r"playbook study --config STUDY --workdir DIR(?: --config\.budget=(\d+))?")
_SWEEP_COMMAND = re.compile(r"\(playbook max-train-steps SWEEP_DIR --goal TRAIN_LOSS\)")


def runnable(finding: Finding, study_dir: str) -> Finding:
    """`finding` with the study command of its recommendation as this study's own (its
    config file and directory, `runner.continue_command`), so that it runs as printed."""
    from playbook.study.runner import continue_command

    def study_command(match: re.Match) -> str:
        budget = match.group(1)
        return f"`{continue_command(study_dir, **({'budget': budget} if budget else {}))}`"

    text = _STUDY_COMMAND.sub(study_command, finding.recommendation)
    text = _SWEEP_COMMAND.sub("(`playbook max-train-steps` on that sweep's study directory, "
                              "with --goal the training loss that counts as fitted)", text)
    return dataclasses.replace(finding, recommendation=text)
