"""Drafting the next round (`playbook next`) and the chain of rounds (`playbook history`).

The rules are checked on constructed studies whose answer is known by
construction (a best trial at an edge, a region that diverged, a key that does
not matter); the loop as a whole on a real tiny synthetic study whose
learning-rate range ends a decade below where the model trains well.
"""

import dataclasses
import json
import os
import pathlib
import shlex
import shutil

import numpy as np
import pytest
from study_templates import BASELINE
from test_analysis_load import write_study, write_trial

from playbook import cli
from playbook import search as hp
from playbook.analysis import diagnostics, draft, history, rounds, space_findings
from playbook.analysis import load as load_lib
from playbook.study import source
from playbook.study.spec import StudySpec

LOG_LR = {"learning_rate": {"kind": "float", "low": 1e-4, "high": 1e-3, "scale": "log"},
          "weight_decay": {"kind": "float", "low": 1e-6, "high": 1e-2, "scale": "log"}}
ADAMW = {"optimizer": ["adamw"]}
STUDIES = pathlib.Path(__file__).resolve().parents[1] / "configs" / "studies"


def _study(root, nuisance, rows, *, budget=10, baseline=None, max_steps=200, best_step=None):
    """A finished study: `rows` are (nuisance values, objective or 'diverged'/'failed')."""
    root = write_study(root, scientific=ADAMW, nuisance=nuisance, budget=budget,
                       baseline=baseline)
    for i, (values, outcome) in enumerate(rows):
        status = outcome if isinstance(outcome, str) else "done"
        write_trial(root, f"{i:04d}", {"optimizer": "adamw"}, values, status=status,
                    objective=None if status != "done" else outcome, max_steps=max_steps,
                    best_step=best_step)
    return root


def _draft(root):
    study = load_lib.Study.load(root)
    return draft.draft(study, diagnostics.diagnose(study))


def _changes(drafted, key):
    return [c for c in drafted.changes if c.key.split("[")[0] == key]


def _grid(n, low, high):
    return np.exp(np.linspace(np.log(low), np.log(high), n))


# -- the rules -------------------------------------------------------------------------


def test_best_trials_at_the_upper_edge_expand_the_range_one_decade(tmp_path):
    lrs, wds = _grid(10, 1.1e-4, 9.9e-4), _grid(10, 1e-6, 1e-2)[::-1]
    rows = [({"learning_rate": lr, "weight_decay": wd}, 0.5 - 0.1 * np.log10(lr / 1e-4))
            for lr, wd in zip(lrs, wds)]
    drafted = _draft(_study(tmp_path / "s", LOG_LR, rows))
    assert drafted.spec.nuisance["learning_rate"] == hp.log(1e-4, 1e-2)  # one decade above 1e-3
    (change,) = _changes(drafted, "learning_rate")
    assert change.finding == "boundary" and "log [0.0001, 0.001] -> log [0.0001, 0.01]" in \
        change.change
    assert drafted.spec.designer == "halton"  # a boundary finding is left: still exploring
    assert drafted.spec.seed == 1  # new points: weight_decay's range stays, its values do not


def test_best_momentum_at_zero_keeps_the_range_at_its_natural_limit(tmp_path):
    nuisance = {"momentum": {"kind": "float", "low": 0.0, "high": 0.99, "scale": "reverse_log"},
                "learning_rate": {"kind": "float", "low": 1e-3, "high": 1.0, "scale": "log"}}
    moms, lrs = np.linspace(0.0, 0.98, 10), _grid(10, 2e-3, 0.5)[[3, 7, 1, 9, 5, 0, 8, 2, 6, 4]]
    rows = [({"momentum": m, "learning_rate": lr}, 0.2 + 0.3 * m + 0.001 * abs(np.log(lr)))
            for m, lr in zip(moms, lrs)]
    root = _study(tmp_path / "s", nuisance, rows, baseline={"optimizer": "nesterov"})
    with open(os.path.join(root, "study.json")) as f:
        spec = json.load(f)
    spec["spec"]["scientific"] = {"optimizer": ["nesterov"]}
    with open(os.path.join(root, "study.json"), "w") as f:
        json.dump(spec, f)
    for i in range(10):
        meta_path = os.path.join(root, "trials", f"{i:04d}", "trial.json")
        with open(meta_path) as f:
            meta = json.load(f)
        meta["scientific"] = {"optimizer": "nesterov"}
        with open(meta_path, "w") as f:
            json.dump(meta, f)
    drafted = _draft(root)
    assert drafted.spec.nuisance["momentum"] == hp.reverse_log(0.0, 0.99)
    (kept,) = _changes(drafted, "momentum")
    assert kept.kept and "natural limit" in kept.reason and "0" in kept.reason


def _unstable_rows(best_lr, best_objective):
    """lr in [1e-4, 1e-1]: above 1e-2 every trial diverged; the best sits at `best_lr`."""
    lrs = [1.2e-4, 3e-4, 8e-4, 2e-3, 4e-3, 8e-3, 1.5e-2, 3e-2, 6e-2, 9e-2]
    rows = []
    for i, lr in enumerate(lrs):
        wd = float(_grid(10, 1e-6, 1e-2)[(3 * i) % 10])
        outcome = ("diverged" if lr > 1e-2 else best_objective if lr == best_lr
                   else 0.4 + 0.02 * abs(np.log(lr / best_lr)))
        rows.append(({"learning_rate": lr, "weight_decay": wd}, outcome))
    return rows


def test_an_outer_part_that_only_diverged_is_narrowed_to_the_stable_region(tmp_path):
    nuisance = {**LOG_LR, "learning_rate": {"kind": "float", "low": 1e-4, "high": 1e-1,
                                            "scale": "log"}}
    drafted = _draft(_study(tmp_path / "s", nuisance, _unstable_rows(2e-3, 0.3)))
    assert drafted.spec.nuisance["learning_rate"] == hp.log(1e-4, 1.5e-2)  # the first diverged lr
    (change,) = _changes(drafted, "learning_rate")
    assert change.finding == "divergence_threshold" and "0.015" in change.reason
    assert "warmup_fraction" not in drafted.spec.fixed


def test_a_best_trial_at_the_edge_of_stability_gets_warmup_and_keeps_its_range(tmp_path):
    nuisance = {**LOG_LR, "learning_rate": {"kind": "float", "low": 1e-4, "high": 1e-1,
                                            "scale": "log"}}
    drafted = _draft(_study(tmp_path / "s", nuisance, _unstable_rows(8e-3, 0.2)))
    assert drafted.spec.nuisance["learning_rate"] == hp.log(1e-4, 1e-1)
    assert drafted.spec.fixed["warmup_fraction"] == draft.WARMUP_FRACTION
    (change,) = _changes(drafted, "warmup_fraction")
    # The instability finding (the cause) is followed; the learning rate's own divergence
    # threshold, about the same trials, is folded into it and adds no second change.
    assert change.finding == "instability" and "warmup" in change.reason
    assert "below the threshold 0.015 above which all" in change.reason


def test_a_second_stabilisation_clips_at_the_best_trials_gradient_norm(tmp_path):
    nuisance = {**LOG_LR, "learning_rate": {"kind": "float", "low": 1e-4, "high": 1e-1,
                                            "scale": "log"}}
    root = _study(tmp_path / "s", nuisance, _unstable_rows(8e-3, 0.2),
                  baseline={"warmup_fraction": 0.1})
    with open(os.path.join(root, "trials", "0005", "metrics.jsonl"), "a") as f:
        for step, norm in enumerate(np.linspace(1.0, 10.0, 10)):
            f.write(json.dumps({"step": 300 + step, "train/grad_norm": float(norm)}) + "\n")
    drafted = _draft(root)
    assert drafted.spec.fixed["grad_clip_norm"] == pytest.approx(np.percentile(
        np.linspace(1.0, 10.0, 10), 90), rel=1e-2)
    assert "warmup_fraction" not in drafted.spec.fixed


def test_a_key_that_does_not_matter_is_fixed_and_the_budget_follows(tmp_path):
    rng = np.random.default_rng(0)
    lrs = _grid(16, 1.5e-4, 7e-4)
    wds = np.exp(rng.uniform(np.log(1e-6), np.log(1e-2), 16))
    rows = [({"learning_rate": lr, "weight_decay": wd},
             0.2 + 2.0 * np.log10(lr / 3.2e-4) ** 2) for lr, wd in zip(lrs, wds)]
    drafted = _draft(_study(tmp_path / "s", LOG_LR, rows, budget=4))
    assert "weight_decay" not in drafted.spec.nuisance
    best = min(rows, key=lambda r: r[1])[0]["weight_decay"]
    assert drafted.spec.fixed["weight_decay"] == pytest.approx(best, rel=1e-3)
    (fixed,) = _changes(drafted, "weight_decay")
    assert fixed.finding == "importance" and "importance" in fixed.reason
    assert "learning_rate" in drafted.spec.nuisance
    # Four trials for two keys is too few; for the one key left, four are enough.
    assert drafted.spec.budget == 4 and not _changes(drafted, "budget")


def test_the_budget_rises_with_the_nuisance_dimensions_left(tmp_path):
    nuisance = {**LOG_LR, "b1": {"kind": "float", "low": 0.8, "high": 0.99,
                                 "scale": "reverse_log"}}
    rows = [({"learning_rate": lr, "weight_decay": 1e-4, "b1": 0.9}, 0.3 + 0.01 * i)
            for i, lr in enumerate(_grid(5, 2e-4, 5e-4))]
    drafted = _draft(_study(tmp_path / "s", nuisance, rows, budget=5))
    assert drafted.spec.budget == space_findings.trials_needed(3) == 25
    (change,) = _changes(drafted, "budget")
    assert change.change == "5 -> 25" and change.finding == "too_few_trials"


def test_early_best_checkpoints_shorten_training_and_scale_evaluation(tmp_path):
    rows = [({"learning_rate": lr, "weight_decay": 1e-4}, 0.3 + 0.01 * i)
            for i, lr in enumerate(_grid(10, 2e-4, 5e-4))]
    root = _study(tmp_path / "s", LOG_LR, rows, max_steps=2000, best_step=100,
                  baseline={"max_train_steps": 2000, "eval_every_steps": 100})
    drafted = _draft(root)
    assert drafted.spec.fixed["max_train_steps"] == 250  # 100 / 0.4, a round number
    assert drafted.spec.fixed["eval_every_steps"] == 12  # 20 evaluations per run, as before
    assert drafted.spec.designer == "bayesopt"  # no boundary or instability finding left


def test_next_steps_are_round_numbers():
    assert [draft.nice_steps(s) for s in (3, 101, 240, 251, 999, 4100)] == [
        10, 200, 250, 500, 1000, 5000]


# -- the file ------------------------------------------------------------------------


def _round_trip(spec, tmp_path, previous=None):
    fields = {"name": spec.name, "description": spec.description, "baseline": BASELINE,
              "scientific": {k: list(v) for k, v in spec.scientific},
              "nuisance": spec.nuisance, "fixed": spec.fixed, "budget": spec.budget,
              "designer": spec.designer, "metric": spec.metric, "goal": spec.goal,
              "seed": spec.seed}
    if previous:
        fields["previous"] = previous
    path = tmp_path / "drafted.py"
    path.write_text(source.study_source(fields, {"nuisance": {"momentum": ["a why"]}}, "doc"))
    return StudySpec.load(str(path)), path.read_text()


def test_a_written_config_loads_back_as_the_spec_it_was_written_from(tmp_path):
    spec = StudySpec.load(str(STUDIES / "synthetic_optimizers.py"))
    spec = dataclasses.replace(spec, name="x", budget=7, seed=3,
                               fixed={"max_train_steps": 60, "model.dropout": 0.1})
    spec = dataclasses.replace(spec, nuisance={
        **spec.nuisance, "warmup_steps": hp.int_range(1, 20, "log"),
        "batch_size": hp.discrete([16, 32]), "model.activation": hp.choice(["relu", "gelu"]),
        "momentum": hp.reverse_log(0.0, 0.99, when={"optimizer": ["nesterov"]})})
    previous = {"study": str(tmp_path / "r1"), "round": 2, "changes": [
        {"section": "nuisance", "key": "learning_rate", "change": "log [1, 2] -> log [1, 20]",
         "reason": "a reason long enough to be split over lines " * 4, "finding": "boundary",
         "kept": False}]}
    loaded, text = _round_trip(spec, tmp_path, previous)
    for field in ("scientific", "nuisance", "budget", "designer", "metric", "goal", "seed"):
        assert getattr(loaded, field) == getattr(spec, field), field
    assert loaded.fixed == spec.fixed and loaded.previous == previous
    assert "# a why\n            'momentum'" in text
    assert max(map(len, text.splitlines())) <= source.WIDTH


# -- bad input -----------------------------------------------------------------------


def _one_line_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("playbook: error: ")
    return err


def test_next_on_a_study_without_a_finished_trial_exits_2(tmp_path, capsys):
    root = _study(tmp_path / "s", LOG_LR, [({"learning_rate": 2e-4, "weight_decay": 1e-4},
                                            "diverged")])
    err = _one_line_exit_2(["next", root], capsys)
    assert "no finished trial" in err and "playbook study" in err
    assert not os.path.exists(os.path.join(root, rounds.NEXT_STUDY_FILE))


def test_next_on_a_study_with_failed_trials_exits_2(tmp_path, capsys):
    root = _study(tmp_path / "s", LOG_LR, [({"learning_rate": 2e-4, "weight_decay": 1e-4}, 0.3),
                                           ({"learning_rate": 4e-4, "weight_decay": 1e-4},
                                            "failed")])
    err = _one_line_exit_2(["next", root], capsys)
    assert "failed" in err and "--retry_failed" in err


def test_adopting_a_value_the_study_did_not_test_exits_2_and_writes_nothing(tmp_path, capsys):
    root = _study(tmp_path / "s", LOG_LR, [({"learning_rate": 2e-4, "weight_decay": 1e-4}, 0.3)])
    err = _one_line_exit_2(["next", root, "--adopt", "optimizer=sgd"], capsys)
    assert "'sgd' is not a value of scientific 'optimizer'" in err and "adamw" in err
    assert sorted(os.listdir(root)) == ["study.json", "trials"]


# -- the loop on a real study --------------------------------------------------------

LOW_ROUND = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        name="low_lr", baseline={baseline!r}, scientific={{"optimizer": ["adamw"]}},
        nuisance={{"learning_rate": hp.log(1.5e-4, 1.5e-3)}},
        fixed={{"max_train_steps": 60, "eval_every_steps": 10, "log_every_steps": 5}},
        budget=8, metric="valid/error_rate")
"""


@pytest.mark.slow
def test_a_range_a_decade_too_low_is_expanded_and_the_next_round_does_better(tmp_path, capsys):
    config = tmp_path / "round1.py"
    config.write_text(LOW_ROUND.format(baseline=BASELINE))
    r1, r2 = str(tmp_path / "r1"), str(tmp_path / "r2")
    assert cli.main(["study", "--config", str(config), "--workdir", r1, "--no_progress"]) == 0
    assert cli.main(["next", r1, "--adopt", "optimizer=adamw"]) == 0
    printed = capsys.readouterr().out
    drafted = StudySpec.load(os.path.join(r1, rounds.NEXT_STUDY_FILE))
    lr = drafted.nuisance["learning_rate"]
    assert lr.high == pytest.approx(1.5e-2) and lr.scale == "log"  # a decade higher
    assert lr.low == pytest.approx(1.5e-4)  # slow trials are results, not infeasible: kept
    assert "boundary" in printed and "learning_rate" in printed
    assert drafted.previous["study"] == r1 and drafted.previous["round"] == 2
    # The printed command names the drafted file from where `next` ran.
    run_it = shlex.split(next(line for line in printed.splitlines()
                              if "run it: " in line).split("run it: ", 1)[1])
    assert run_it[:3] == ["playbook", "study", "--config"] and run_it[4] == "--workdir"
    assert os.path.samefile(run_it[3], os.path.join(r1, rounds.NEXT_STUDY_FILE))
    assert cli.main(["study", "--config", run_it[3], "--workdir", r2, "--no_progress"]) == 0
    best = [load_lib.ranked(load_lib.load_study(d), "minimize")["objective"].min()
            for d in (r1, r2)]
    assert best[1] < best[0] - 0.05
    capsys.readouterr()
    assert cli.main(["history", r1]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 round(s)") and text.index(r1) < text.index(r2)
    assert "decision: adopted optimizer=adamw" in text and "changed learning_rate" in text
    assert f"best optimizer=adamw: {best[1]:.4g}" in text
    page = open(os.path.join(r2, "report", "index.html")).read()
    assert "previous round" in page and "../../r1/report/index.html" in page
    history.history_text(r2)  # the same chain from its other end
    assert rounds.chain(r2) == [os.path.abspath(r1), os.path.abspath(r2)]


def test_history_follows_the_chain_from_either_end_and_reports_link_it(tmp_path):
    from playbook.analysis import report

    rows = [({"learning_rate": 2e-4, "weight_decay": 1e-4}, 0.4)]
    r1 = _study(tmp_path / "r1", LOG_LR, rows)
    r2 = _study(tmp_path / "r2", LOG_LR, [({"learning_rate": 2e-3, "weight_decay": 1e-4}, 0.3)])
    with open(os.path.join(r2, "study.json")) as f:
        study = json.load(f)
    study["spec"]["previous"] = {"study": r1, "round": 2, "changes": [
        {"section": "nuisance", "key": "learning_rate", "change": "log [1, 2] -> log [1, 20]",
         "reason": "best trial(s) at 1.9", "finding": "boundary", "kept": False}]}
    with open(os.path.join(r2, "study.json"), "w") as f:
        json.dump(study, f)
    assert rounds.chain(r1) == rounds.chain(r2) == [r1, r2]
    text = history.history_text(r2)
    lines = text.splitlines()
    assert lines[0] == "2 round(s)" and lines[1].startswith("round 1: constructed (")
    assert "best optimizer=adamw: 0.4 (trial 0000" in text and "0.3 (trial 0000" in text
    assert ("changed learning_rate: log [1, 2] -> log [1, 20] (boundary: best trial(s) at 1.9)"
            in text)
    assert text.count("decision: none recorded") == 2 and text.index("<- this study") > \
        text.index("round 2:")
    first, second = (report._rounds_html(load_lib.Study.load(d)) for d in (r1, r2))
    assert "next round: <a href='../../r2/report/index.html'>r2</a>" in first
    assert "previous round: <a href='../../r1/report/index.html'>r1</a>" in second
    # Copied, with the originals still in place: the copy's chain stays within the copy.
    os.makedirs(tmp_path / "copy")
    for name in ("r1", "r2"):
        shutil.copytree(tmp_path / name, tmp_path / "copy" / name)
    assert rounds.chain(str(tmp_path / "copy" / "r1")) == [str(tmp_path / "copy" / "r1"),
                                                           str(tmp_path / "copy" / "r2")]
    # Moved together to another folder, the chain still holds (found beside the round).
    moved = tmp_path / "moved"
    moved.mkdir()
    os.rename(r1, moved / "r1")
    os.rename(r2, moved / "r2")
    assert rounds.chain(str(moved / "r2")) == [str(moved / "r1"), str(moved / "r2")]


def test_an_adopted_value_is_the_next_baseline_beside_the_drafted_config(tmp_path, capsys):
    from playbook import config as config_lib

    root = _study(tmp_path / "s", LOG_LR, [({"learning_rate": 2e-4, "weight_decay": 1e-4}, 0.3),
                                           ({"learning_rate": 5e-4, "weight_decay": 3e-3}, 0.2)])
    assert cli.main(["next", root, "--adopt", "optimizer=adamw"]) == 0
    printed = capsys.readouterr().out
    assert "(adopted optimizer=adamw)" in printed
    drafted = open(os.path.join(root, rounds.NEXT_STUDY_FILE)).read()
    assert "baseline='next_baseline.py'," in drafted and "# decision: baseline:" in drafted
    spec = StudySpec.load(os.path.join(root, rounds.NEXT_STUDY_FILE))
    changes = [draft.Change(**c) for c in spec.previous["changes"][1:]]
    assert {c.finding for c in changes} == {"search_space", "new_round"}
    for change in changes:  # printed, and commented in the file above what it changed
        assert change.line() in printed
        assert f"# {change.finding}: {change.key}: {change.change}" in drafted
    assert spec.baseline.learning_rate == 5e-4 and spec.baseline.weight_decay == 3e-3
    assert spec.previous["changes"][0]["finding"] == "decision"
    # Elsewhere, and without --adopt: the latest decision's baseline, copied beside it.
    out = tmp_path / "elsewhere" / "round2.py"
    assert cli.main(["next", root, "--out", str(out)]) == 0
    copied = config_lib.load(str(tmp_path / "elsewhere" / "round2_baseline.py"))
    assert copied.learning_rate == 5e-4
    assert StudySpec.load(str(out)).previous["study"] == root


def test_the_drafted_file_is_the_same_from_any_working_directory_and_names_the_study(
        tmp_path, capsys, monkeypatch):
    """`playbook next .` from inside the study: `previous` is relative to the drafted file's
    folder and names the study ('../r1', not '.'); the docstring names its directory and
    a command that runs from anywhere; the printed command runs from where `next` ran;
    the next round goes beside this one, where `playbook history` finds it."""
    root = _study(tmp_path / "runs" / "r1", LOG_LR,
                  [({"learning_rate": 2e-4, "weight_decay": 1e-4}, 0.3)])
    drafted = os.path.join(root, rounds.NEXT_STUDY_FILE)
    texts, printed = [], []
    for cwd, arg in ((root, "."), (tmp_path, "runs/r1"), (tmp_path / "runs", "r1")):
        monkeypatch.chdir(cwd)
        assert cli.main(["next", arg]) == 0
        printed.append(capsys.readouterr().out)
        with open(drafted) as f:
            texts.append(f.read())
        os.unlink(drafted)
    assert texts[0] == texts[1] == texts[2]
    text = texts[0]
    assert "'study': '../r1'," in text and "'study': '.'" not in text
    workdir = str(tmp_path / "runs" / "constructed_round2")
    assert f"in {root}:\n" in text
    assert f"    playbook study --config {drafted} --workdir {workdir}\n" in text
    run_it = [shlex.split(p.split("run it: ", 1)[1].splitlines()[0]) for p in printed]
    assert run_it[0][3:] == ["next_study.py", "--workdir", "../constructed_round2"]
    assert run_it[1][3:] == ["runs/r1/next_study.py", "--workdir", "runs/constructed_round2"]
    assert run_it[2][3:] == ["r1/next_study.py", "--workdir", "constructed_round2"]
    with open(drafted, "w") as f:
        f.write(text)
    monkeypatch.chdir(tmp_path / "runs" / "r1")  # loaded from anywhere: the same study
    assert StudySpec.load(rounds.NEXT_STUDY_FILE).previous["study"] == root


def test_a_flat_key_stays_searched_while_another_range_is_still_moving(tmp_path):
    rng = np.random.default_rng(0)
    lrs = _grid(16, 1.1e-4, 9.9e-4)  # the objective falls all the way to the upper edge
    wds = np.exp(rng.uniform(np.log(1e-6), np.log(1e-2), 16))
    rows = [({"learning_rate": lr, "weight_decay": wd}, 0.5 - 0.2 * np.log10(lr / 1e-4))
            for lr, wd in zip(lrs, wds)]
    drafted = _draft(_study(tmp_path / "s", LOG_LR, rows))
    assert drafted.spec.nuisance["learning_rate"] == hp.log(1e-4, 1e-2)
    assert "weight_decay" in drafted.spec.nuisance and "weight_decay" not in drafted.spec.fixed


def test_late_best_checkpoints_lengthen_training(tmp_path):
    rows = [({"learning_rate": lr, "weight_decay": 1e-4}, 0.3 + 0.01 * i)
            for i, lr in enumerate(_grid(10, 2e-4, 5e-4))]
    root = _study(tmp_path / "s", LOG_LR, rows, max_steps=200, best_step=200,
                  baseline={"max_train_steps": 200, "eval_every_steps": 20})
    drafted = _draft(root)
    assert drafted.spec.fixed["max_train_steps"] == 500  # 2 x 200, rounded up to 5 x 100
    assert drafted.spec.fixed["eval_every_steps"] == 50
    (change,) = _changes(drafted, "max_train_steps")
    assert change.finding == "best_step_late" and "100%" in change.reason


def test_the_drafted_round_keeps_the_studys_trial_timeout(tmp_path):
    lrs, wds = _grid(10, 1.1e-4, 9.9e-4), _grid(10, 1e-6, 1e-2)[::-1]
    rows = [({"learning_rate": lr, "weight_decay": wd}, 0.5 - 0.1 * np.log10(lr / 1e-4))
            for lr, wd in zip(lrs, wds)]
    root = _study(tmp_path / "s", LOG_LR, rows)
    path = os.path.join(root, "study.json")
    stored = json.load(open(path))
    stored["spec"]["trial_timeout"] = 90.0
    json.dump(stored, open(path, "w"))
    written = rounds.write_next(root)
    assert StudySpec.load(written.config).trial_timeout == 90.0


def test_a_range_shared_by_every_scientific_value_is_expanded_one_decade_once(tmp_path):
    # Both optimizers share one learning-rate range (no branches) and both sit at its top:
    # the draft expands it one decade, not one decade per scientific value.
    lrs, wds = _grid(10, 1.1e-4, 9.9e-4), _grid(10, 1e-6, 1e-2)[::-1]
    root = write_study(tmp_path / "s", scientific={"optimizer": ["nesterov", "adamw"]},
                       nuisance=LOG_LR, budget=10)
    for i, (lr, wd) in enumerate(zip(lrs, wds)):
        for s, opt in enumerate(("nesterov", "adamw")):
            write_trial(root, f"{2 * i + s:04d}", {"optimizer": opt},
                        {"learning_rate": lr, "weight_decay": wd},
                        objective=0.5 - 0.1 * np.log10(lr / 1e-4) + 0.01 * s)
    drafted = _draft(root)
    assert drafted.spec.nuisance["learning_rate"] == hp.log(1e-4, 1e-2)
    (change,) = _changes(drafted, "learning_rate")
    assert "log [0.0001, 0.001] -> log [0.0001, 0.01]" in change.change
