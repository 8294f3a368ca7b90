"""The `playbook` command as a new user types it: each mistake ends with one line and
exit status 2 (nothing written), a Ctrl-C or SIGTERM with one line and the command that
resumes, and what the command says about an existing workdir or study is what it then does."""

import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from playbook.study import StudySpec, runner
from playbook.study.store import StudyStore

EXE = [shutil.which("playbook")] if shutil.which("playbook") else [sys.executable, "-m",
                                                                     "playbook"]


def playbook(*args, cwd=None, timeout=240):
    """The command as typed in a shell, PATH and PYTHONPATH inherited."""
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def one_line_error(result, code=2) -> str:
    """The single stderr line of a refused command (no traceback, nothing on stdout)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("playbook: error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "\\n" not in lines[0] and "\\'" not in lines[0]
    return lines[0]


def listing(directory) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture
def baseline(root):
    return str(root / "configs/synthetic_mlp.py")


@pytest.fixture
def study_config(root):
    return str(root / "configs/studies/synthetic_optimizers.py")


# -- (1) a changed config on an existing trial workdir ---------------------------------


@pytest.mark.slow
def test_train_refuses_a_changed_config_on_its_workdir_and_resumes_the_same_one(
        baseline, tmp_path):
    workdir = tmp_path / "trial"
    short = ("--config.max_train_steps=50", "--config.eval_every_steps=25")
    assert playbook("train", "--config", baseline, "--workdir", workdir, *short).returncode == 0
    stored = (workdir / "config.json").read_text()

    again = playbook("train", "--config", baseline, "--workdir", workdir, *short)
    assert again.returncode == 0 and again.stdout.startswith(f"done: {workdir}; steps 50/50")

    changed = playbook("train", "--config", baseline, "--workdir", workdir, *short,
                       "--config.learning_rate=0.05")
    line = one_line_error(changed)
    assert "differs in learning_rate 0.003 -> 0.05" in line and "new --workdir" in line
    assert (workdir / "config.json").read_text() == stored


# -- (3) a workdir that is a file ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "study"])
def test_a_workdir_that_is_a_file_is_one_line_and_nothing_is_written(command, baseline,
                                                                      study_config, tmp_path):
    (tmp_path / "taken").write_text("not a directory\n")
    before = listing(tmp_path)
    config = baseline if command == "train" else study_config
    for workdir in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        line = one_line_error(playbook(command, "--config", config, "--workdir", workdir))
        assert f"'{tmp_path / 'taken'}' is a file" in line or "is a file" in line
    assert listing(tmp_path) == before
    assert (tmp_path / "taken").read_text() == "not a directory\n"


def test_train_on_a_study_and_study_on_a_trial_are_refused(baseline, study_config, tmp_path):
    study, trial = tmp_path / "study", tmp_path / "trial"
    runner.prepare(StudyStore(str(study)), StudySpec.load(study_config))
    trial.mkdir()
    (trial / "config.json").write_text("{}")
    before = listing(tmp_path)
    line = one_line_error(playbook("train", "--config", baseline, "--workdir", study))
    assert line.endswith(f"'{study}' is a study directory; `playbook study` trains its trials: "
                         f"give `playbook train` a new --workdir")
    line = one_line_error(playbook("study", "--config", study_config, "--workdir", trial))
    assert f"'{trial}' holds a single trial (config.json), not a study" in line
    assert listing(tmp_path) == before


# -- (5) a typo in an override ---------------------------------------------------------


def test_an_override_typo_is_one_clean_line_with_the_suggestion(baseline, tmp_path):
    line = one_line_error(playbook("train", "--config", baseline, "--workdir", tmp_path / "t",
                                   "--config.learnig_rate=0.1"))
    assert line == (f"playbook: error: bad override --config.learnig_rate=0.1: 'learnig_rate' "
                    f"is not a key of config '{baseline}' (did you mean 'learning_rate'?)")
    assert not (tmp_path / "t").exists()


# -- (6) a scientific value without its branch -----------------------------------------

MISSING_BRANCH = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"optimizer": ["nesterov", "adamw", "adam"]}},
        nuisance={{"learning_rate": hp.branches("optimizer", {{
            "nesterov": hp.log(1e-3, 1.0), "adamw": hp.log(1e-4, 1e-1)}})}},
        budget=2)
"""


def test_a_scientific_value_missing_from_its_branches_is_refused(baseline, tmp_path):
    path = tmp_path / "study.py"
    path.write_text(MISSING_BRANCH.format(baseline=baseline))
    line = one_line_error(playbook("study", "--config", path, "--workdir", tmp_path / "s"))
    assert ("nuisance 'learning_rate' has no branch for optimizer='adam'" in line
            and "learning_rate=0.003 untuned" in line and "add a branch for 'adam'" in line)
    assert not (tmp_path / "s").exists()


# -- (7) a dry run on an existing study ------------------------------------------------


@pytest.mark.slow
def test_a_dry_run_on_an_existing_study_says_what_the_run_would_do(study_config, tmp_path):
    workdir = tmp_path / "s"
    runner.prepare(StudyStore(str(workdir)), StudySpec.load(study_config))  # 8 trials, untrained
    before = listing(workdir)

    same = playbook("study", "--config", study_config, "--workdir", workdir, "--dry_run")
    lines = same.stdout.splitlines()
    assert same.returncode == 0
    assert lines[0] == (f"# {workdir} holds this study: the run continues it (8 pending); "
                        f"finished trials are kept, the others train")
    assert len(lines) == 10 and all(line.endswith("  [pending]") for line in lines[2:])

    larger = playbook("study", "--config", study_config, "--workdir", workdir, "--dry_run",
                      "--config.budget=5")
    assert larger.returncode == 0
    assert "the run continues it (8 pending, 2 new)" in larger.stdout
    assert larger.stdout.splitlines()[-1].startswith("0009  optimizer=adamw")

    reseeded = playbook("study", "--config", study_config, "--workdir", workdir, "--dry_run",
                        "--config.seed=3")
    line = one_line_error(reseeded)
    assert line.startswith("playbook: error: the study would not run: the study config differs "
                           f"from {workdir}/study.json in: seed;")
    real = playbook("study", "--config", study_config, "--workdir", workdir, "--config.seed=3")
    assert one_line_error(real).endswith(line.split("would not run: ")[1])
    assert listing(workdir) == before


# -- (8) the wrong kind of config ------------------------------------------------------


def test_a_baseline_given_to_study_and_a_study_given_to_train_are_recognised(
        baseline, study_config, tmp_path):
    line = one_line_error(playbook("study", "--config", baseline, "--workdir", tmp_path / "s"))
    assert f"'{baseline}' is a baseline config" in line
    assert f"`playbook train --config {baseline} --workdir DIR`" in line and "define(" in line
    line = one_line_error(playbook("train", "--config", study_config, "--workdir", tmp_path / "t"))
    assert f"'{study_config}' is a study config" in line
    assert f"`playbook study --config {study_config} --workdir DIR`" in line
    assert not (tmp_path / "s").exists() and not (tmp_path / "t").exists()


# -- (4) Ctrl-C --------------------------------------------------------------------------


def interrupt_when(args, ready, cwd, timeout=180.0, sig=signal.SIGINT):
    """Starts `playbook *args`, sends `sig` once `ready()` holds; (rc, stdout, stderr)."""
    process = subprocess.Popen([*EXE, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=cwd)
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.slow
def test_ctrl_c_during_a_study_prints_one_line_with_the_command_that_resumes(study_config,
                                                                             tmp_path):
    workdir = tmp_path / "s"
    args = ["study", "--config", study_config, "--workdir", workdir, "--no_report",
            "--config.budget=40"]
    code, _, err = interrupt_when(args, lambda: (workdir / "trials/0002/result.json").exists(),
                                  tmp_path)
    assert code == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    assert last == (f"playbook: interrupted; finished trials in {workdir} are kept and "
                    f"unfinished ones resume from their latest checkpoint with: "
                    f"{shlex.join(['playbook', *map(str, args)])}")
    statuses = [r.status for r in StudyStore(str(workdir)).trials("valid/error_rate")]
    assert len(statuses) == 80 and statuses.count("pending") >= 60  # stopped, not finished


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_sigterm_during_a_study_prints_the_same_line_and_exits_143(executor, tmp_path):
    """A scheduler's or a container's stop (SIGTERM) while a trial trains: the study unwinds
    as after a Ctrl-C (the trial keeps its best so far and stays pending, to resume), says
    so in one line, and exits 128 + SIGTERM, as a shell reports it."""
    from study_templates import two_optimizer_study

    config = two_optimizer_study(tmp_path / "long.py", budget=1, steps=10**7, every=100,
                                 log_every=50)  # trials that outlast the test
    workdir = tmp_path / "s"
    args = ["study", "--config", config, "--workdir", workdir, "--no_report", "--no_progress",
            "--executor", executor, "--trials_per_program", "1"]
    metrics = workdir / "trials" / "0000" / "metrics.jsonl"
    code, out, err = interrupt_when(  # once the trial has evaluated: a best to keep
        args, lambda: metrics.exists() and "valid/" in metrics.read_text(), tmp_path,
        sig=signal.SIGTERM)
    assert code == 143, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert err.strip().splitlines()[-1] == (
        f"playbook: terminated by SIGTERM; finished trials in {workdir} are kept and "
        f"unfinished ones resume from their latest checkpoint with: "
        f"{shlex.join(['playbook', *map(str, args)])}"), err
    statuses = [r.status for r in StudyStore(str(workdir)).trials("valid/error_rate")]
    assert statuses and set(statuses) == {"pending"}  # stopped mid-trial, nothing failed
    assert [s for s in os.listdir(metrics.parent / "checkpoints") if s.isdigit()]


def test_ctrl_c_during_a_trial_prints_one_line_and_keeps_its_checkpoints(baseline, tmp_path):
    workdir = tmp_path / "t"
    args = ["train", "--config", baseline, "--workdir", workdir, "--config.max_train_steps=10000000",
            "--config.eval_every_steps=100", "--config.log_every_steps=100",
            "--config.checkpoint.save_latest_every_seconds=0"]  # a checkpoint to keep at once
    code, out, err = interrupt_when(args, lambda: (workdir / "checkpoints").is_dir() and any(
        name.isdigit() for name in os.listdir(workdir / "checkpoints")), tmp_path)
    assert code == 130 and out == "", err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"playbook: interrupted; the trial's checkpoints in {workdir} are kept: resume from the "
        f"latest with: {shlex.join(['playbook', *map(str, args)])}"), err
    assert not (workdir / "result.json").exists()


# -- (9) the ETA --------------------------------------------------------------------------


def test_eta_is_the_steps_left_at_the_measured_seconds_per_step(study_config, tmp_path):
    from playbook.study import progress

    store = StudyStore(str(tmp_path / "s"))
    spec = runner.prepare(store, StudySpec.load(study_config))  # 8 trials of 200 steps
    now = time.time()
    # Done in one attempt each: 4, 2 and 9 s, of which 0, 0 and 6 s to the first step.
    for trial_id, seconds, first in (("0000", 4.0, 0.0), ("0001", 2.0, 0.0), ("0002", 9.0, 6.0)):
        trial = store.trial_dir(trial_id)
        with open(os.path.join(trial, "attempts.jsonl"), "w") as f:
            f.write(json.dumps({"time": now - 100 - seconds}) + "\n")
        with open(os.path.join(trial, "result.json"), "w") as f:
            json.dump({"status": "done", "best": {"valid/error_rate": 0.1}, "steps": 200,
                       "throughput": {"first_step_seconds": first}}, f)
        os.utime(os.path.join(trial, "result.json"), (now - 100, now - 100))
    records = store.trials(spec.metric)
    # Training took 4, 2 and 3 s for 200 steps: the median, 3 s, for each of 5 trials left.
    assert progress.eta_seconds(store, records, 200, now) == pytest.approx(5 * 200 * 3.0 / 200)
    assert progress.line(store, spec).endswith("3/8 trials ETA 0m15s")
    # Two trials running side by side: their steps left count, and they share the time.
    running = [dataclasses.replace(records[3], status="running", steps=50),
               dataclasses.replace(records[4], status="running", steps=100)]
    left = (3 * 200 + 150 + 100) * 3.0 / 200 / 2
    assert progress.eta_seconds(store, [*records[:3], *running, *records[5:]], 200, now) == \
        pytest.approx(left)
    # Nothing done yet: the rate of the running trials as the bar saw them advance.
    fresh = [dataclasses.replace(r, status="pending") for r in records]
    seen: dict = {}
    first_look = [dataclasses.replace(fresh[0], status="running", steps=20), *fresh[1:]]
    assert progress.eta_seconds(store, first_look, 200, now, seen) is None
    later = [dataclasses.replace(fresh[0], status="running", steps=120), *fresh[1:]]
    # 100 steps in 5 s: 0.05 s a step for 80 + 7 x 200 steps.
    assert progress.eta_seconds(store, later, 200, now + 5, seen) == pytest.approx(
        (80 + 7 * 200) * 0.05)


# -- the same kinds of mistakes in the other commands ----------------------------------

STUDY_COMMANDS = [["status"], ["report"], ["compare"], ["rerun"],
                  ["adopt", "--value", "optimizer=adamw"], ["steps-to-result", "--goal", "0.1"],
                  ["max-train-steps", "--goal", "0.1"]]


@pytest.mark.parametrize("args", STUDY_COMMANDS, ids=lambda args: args[0])
def test_study_commands_on_a_missing_directory_or_a_file_say_which(args, tmp_path):
    (tmp_path / "file").write_text("")
    name, what = (("missing", "it does not exist") if STUDY_COMMANDS.index(args) % 2 else
                  ("file", "it is a file"))
    line = one_line_error(playbook(args[0], tmp_path / name, *args[1:]))
    assert f"'{tmp_path / name}' is not a study directory ({what}); give the --workdir" in line
    assert listing(tmp_path) == ["file"]


@pytest.mark.parametrize("args, message", [
    (["rerun", "S", "--executor", "processes", "--workers", "-2"],
     "argument --workers: '-2' is not a positive integer"),
    (["rerun", "S", "--seeds", "0"], "argument --seeds: '0' is not a positive integer"),
    (["compare", "S", "--top", "2"], "unrecognized arguments: --top 2 (see playbook compare "
                                     "--help)"),
    (["batch-sizes", "--config", "STUDY"], "is a study config"),
    (["batch-sizes", "--config", "BASELINE", "--seconds", "-1"],
     "seconds per timed round must be positive, got -1.0"),
])
def test_bad_flags_of_the_other_commands_are_one_line(args, message, study_config, baseline,
                                                      tmp_path):
    names = {"S": tmp_path / "s", "STUDY": study_config, "BASELINE": baseline}
    result = playbook(*(names.get(a, a) for a in args))
    if args[0] in ("rerun", "compare"):  # argparse's usage line, then its error
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr.splitlines()[-1]
    else:
        assert message in one_line_error(result)
    assert not (tmp_path / "s").exists()
