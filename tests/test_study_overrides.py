"""`playbook study --config STUDY --config.KEY=VALUE`: a shipped study run for a few steps
from the command line alone (the baseline keys fixed for the whole study, recorded in
study.json, a resume under another value refused and under the same one continued), and
the override that a nuisance or scientific key, or a typo of one, is pointed to."""

import json
import shutil
import subprocess
import sys

import pytest

from playbook import cli
from playbook.study import StudySpec

EXE = [shutil.which("playbook")] if shutil.which("playbook") else [sys.executable, "-m",
                                                                     "playbook"]
STUDY = "configs/studies/mnist1d_optimizers.py"
SHORT = ("--config.max_train_steps=20", "--config.eval_every_steps=10",
         "--config.log_every_steps=10", "--config.budget=1")


def playbook(*args, cwd=None):
    """The command as typed in a shell."""
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=240)


def one_line_error(code: int, stderr: str) -> str:
    """The single stderr line of a refused command, with exit status 2."""
    lines = stderr.strip().splitlines()
    assert code == 2, stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("playbook: error: "), stderr[-2000:]
    assert "Traceback" not in stderr and "<class" not in lines[0]
    assert "Unable to parse" not in lines[0]
    return lines[0]


def study(capsys, *args) -> tuple[int, str, str]:
    """`playbook study *args` in this process: (exit status, stdout, stderr)."""
    code = cli.main(["study", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def contents(directory) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def dry_run(root, tmp_path, capsys, *overrides) -> tuple[int, str, str]:
    code = cli.main(["study", "--config", str(root / STUDY), "--workdir", str(tmp_path / "s"),
                     "--dry_run", *overrides])
    out, err = capsys.readouterr()
    assert not (tmp_path / "s").exists()
    return code, out, err.strip()


@pytest.mark.slow
def test_a_shipped_study_runs_a_few_steps_from_the_command_line(root, tmp_path, capsys,
                                                                 monkeypatch):
    workdir = tmp_path / "s"
    run = playbook("study", "--config", STUDY, "--workdir", workdir, *SHORT, "--no_report",
                   "--no_progress", cwd=root)
    assert run.returncode == 0, run.stderr[-2000:]
    spec = json.loads((workdir / "study.json").read_text())["spec"]
    fixed = {"max_train_steps": 20, "eval_every_steps": 10, "log_every_steps": 10}
    assert spec["fixed"] == fixed and spec["budget"] == 1
    trials = sorted((workdir / "trials").iterdir())
    assert len(trials) == 2
    for trial in trials:
        config = json.loads((trial / "config.json").read_text())
        assert {k: config[k] for k in fixed} == fixed
        steps = [json.loads(line)["step"] for line in (trial / "metrics.jsonl").open()]
        assert max(steps) == 20
    before = contents(workdir)

    monkeypatch.chdir(root)
    line = one_line_error(*study(capsys, "--config", STUDY, "--workdir", workdir, *SHORT,
                                 "--config.max_train_steps=30", "--no_report")[::2])
    assert "differs from" in line and "fixed max_train_steps=20 in the study, 30 now" in line
    assert contents(workdir) == before

    code, out, err = study(capsys, "--config", STUDY, "--workdir", workdir, *SHORT, "--dry_run")
    assert code == 0, err
    assert "the run continues it (2 done)" in out
    assert "# fixed: eval_every_steps=10 log_every_steps=10 max_train_steps=20" in out

    code, out, err = study(capsys, "--config", STUDY, "--workdir", workdir, *SHORT,
                           "--no_report", "--no_progress")
    assert code == 0, err[-2000:]
    after = contents(workdir)
    assert json.loads(after["study.json"])["spec"] == spec
    assert {k: v for k, v in after.items() if k.endswith("result.json")} == {
        k: v for k, v in before.items() if k.endswith("result.json")}  # finished: kept


def test_baseline_keys_nested_and_fixed_forms_are_fixed_for_the_study(root):
    spec = StudySpec.load(str(root / STUDY), ["--config.model.width=64",
                                              "--config.fixed.seed=4", "--config.seed=3",
                                              "--config.b2=0.95"])
    assert spec.fixed == {"model.width": 64, "seed": 4, "b2": 0.95}
    assert spec.seed == 3  # the study's own seed (the designer's); fixed.seed is the trials'
    trial = spec.trials([[0.5] * len(spec.dimensions)])[0]
    config = spec.trial_config(trial)
    assert (config.model.width, config.seed, config.b2) == (64, 4, 0.95)
    # a key the study file already fixes takes the command line's value
    lr_sweep = StudySpec.load(str(root / "configs/studies/mnist1d_lr_sweep.py"))
    key, value = next(iter(lr_sweep.fixed.items()))
    other = StudySpec.load(str(root / "configs/studies/mnist1d_lr_sweep.py"),
                           [f"--config.{key}={value + 1}"])
    assert other.fixed == {**lr_sweep.fixed, key: value + 1}


def test_a_typo_of_a_nuisance_key_points_to_an_override_that_works(root, tmp_path, capsys):
    code, _, err = dry_run(root, tmp_path, capsys, "--config.learnig_rate=0.1")
    one_line_error(code, err)
    assert "did you mean 'learning_rate'?" in err and "nuisance" in err
    suggested = err.split("change its range with ")[1].split()[0]
    assert suggested == "--config.nuisance.learning_rate.nesterov.high=1.0"
    assert dry_run(root, tmp_path, capsys, suggested)[0] == 0
    code, _, err = dry_run(root, tmp_path, capsys, "--config.budjet=1")
    assert code == 2 and "(did you mean 'budget'?)" in err


@pytest.mark.parametrize("override", ["--config.learning_rate=0.1",
                                      "--config.nuisance.learning_rate=0.1",
                                      "--config.fixed.learning_rate=0.1"])
def test_a_nuisance_key_says_how_to_change_its_range(override, root, tmp_path, capsys):
    code, _, err = dry_run(root, tmp_path, capsys, override)
    line = one_line_error(code, err)
    assert ("'learning_rate' is a nuisance hyperparameter of this study, searched over "
            "hp.branches('optimizer', {'nesterov': hp.log(0.001, 1.0), 'adamw': "
            "hp.log(0.0001, 0.03)}); change its range with "
            "--config.nuisance.learning_rate.nesterov.high=1.0 (or .low)") in line
    assert f"'{root / STUDY}'" in line


def test_a_nuisance_key_is_refused_as_typed_in_a_shell(root, tmp_path):
    result = playbook("study", "--config", STUDY, "--workdir", tmp_path / "s",
                      "--config.learning_rate=0.1", cwd=root)
    line = one_line_error(result.returncode, result.stderr)
    assert "--config.nuisance.learning_rate.nesterov.high=1.0" in line
    assert not (tmp_path / "s").exists()


def test_a_nuisance_range_changed_from_the_command_line(root, tmp_path, capsys):
    code, out, _ = dry_run(root, tmp_path, capsys, "--config.budget=4", "--format=json",
                           "--config.nuisance.learning_rate.nesterov.high=0.01",
                           "--config.nuisance.momentum.low=0.9")
    assert code == 0
    nesterov = [t["nuisance"] for t in json.loads(out)
                if t["scientific"]["optimizer"] == "nesterov"]
    assert len(nesterov) == 4
    assert all(1e-3 <= n["learning_rate"] <= 0.01 and n["momentum"] >= 0.9 for n in nesterov)
    spec = StudySpec.load(str(root / STUDY), ["--config.nuisance.weight_decay.high=0.1"])
    assert spec.to_dict()["nuisance"]["weight_decay"]["high"] == 0.1
    code, _, err = dry_run(root, tmp_path, capsys, "--config.nuisance.momentum.high=1.5")
    assert code == 2 and "momentum" in err and "below 1" in err


def test_a_scientific_key_says_how_to_change_its_values(root, tmp_path, capsys):
    code, _, err = dry_run(root, tmp_path, capsys, "--config.optimizer=adamw")
    assert code == 2 and "'optimizer' is scientific in this study" in err
    suggested = err.split("change the values it compares with ")[1].split(" or in")[0]
    assert suggested == "--config.scientific.optimizer=\"['nesterov', 'adamw']\""
    code, out, _ = dry_run(root, tmp_path, capsys, suggested.replace('"', ""))
    assert code == 0 and "optimizer=adamw" in out


@pytest.mark.parametrize("override, message", [
    ("--config.max_train_steps=abc", "bad override --config.max_train_steps=abc: "
     "'max_train_steps' takes an integer, like the baseline's max_train_steps=2000; got 'abc'"),
    ("--config.model=3", "'model' is a section of the baseline, not a value; set one of its "
     "keys, e.g. --config.model.activation=..."),
    ("--config.nuisance.momentum.hihg=0.9", "a float range has no field 'hihg'"),
    ("--config.nuisance.momentun.high=0.9", "'momentun' is not a nuisance hyperparameter of "
     "study 'configs/studies/mnist1d_optimizers.py' (did you mean 'momentum'?)"),
    ("--config.fixed=3", "name a baseline key, e.g. --config.fixed.max_train_steps=200"),
])
def test_bad_overrides_are_one_line_and_write_nothing(override, message, root, tmp_path,
                                                      capsys, monkeypatch):
    monkeypatch.chdir(root)
    line = one_line_error(*study(capsys, "--config", STUDY, "--workdir", tmp_path / "s",
                                 override)[::2])
    assert message in line
    assert not (tmp_path / "s").exists()
