"""The `playbook` command as a user runs it: help, dry runs and configuration errors."""

import json
import re
import subprocess
import sys

import pytest

from playbook import cli


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "playbook", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def _readme_commands(root) -> dict[str, set[str]]:
    """README's command table: command -> the flags its rows show."""
    rows = re.findall(r"^\| `playbook ([a-z-]+)([^`]*)` \|", (root / "README.md").read_text(),
                      re.M)
    commands: dict[str, set[str]] = {}
    for name, synopsis in rows:
        commands.setdefault(name, set()).update(re.findall(r"--[a-z_]+(?![.a-z_])", synopsis))
    return commands


def test_every_command_and_flag_in_the_readme_is_one_the_cli_has(root, capsys):
    documented = _readme_commands(root)
    assert {"train", "study", "status", "rerun", "report", "compare", "adopt"} <= set(documented)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out.split("COMMAND\n", 1)[1].split("\noptions:")[0]
    listed = re.findall(r"^    ([a-z-]+)", help_text, re.M)
    assert sorted(listed) == sorted(documented)  # no command undocumented, none missing
    for name, flags in documented.items():
        with pytest.raises(SystemExit) as exit_:
            cli.main([name, "--help"])
        assert exit_.value.code == 0
        options = set(re.findall(r"--[a-z_]+", capsys.readouterr().out))
        assert flags <= options, (name, flags - options)


def test_dry_run_prints_one_line_per_trial(root, tmp_path, capsys):
    workdir = tmp_path / "study"
    code = cli.main(["study", "--config", str(root / "configs/studies/synthetic_optimizers.py"),
                     "--workdir", str(workdir), "--dry_run"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith("# study 'synthetic_optimizers': 8 trials")
    trials = out[1:]
    assert len(trials) == 8
    assert trials[0].startswith("0000  optimizer=nesterov  |  learning_rate=")
    assert "momentum=" in trials[0] and "b1=" not in trials[0]
    assert "b1=" in trials[1] and "momentum=" not in trials[1]
    assert not workdir.exists()  # a dry run writes nothing


def test_dry_run_json_lists_trials_with_their_values(root, tmp_path, capsys):
    code = cli.main(["study", "--config", str(root / "configs/studies/synthetic_optimizers.py"),
                     "--workdir", str(tmp_path / "s"), "--dry_run", "--format=json",
                     "--config.budget=3"])
    trials = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(trials) == 6
    assert set(trials[0]) == {"trial_id", "scientific", "nuisance"}
    assert [t["scientific"]["optimizer"] for t in trials] == ["nesterov", "adamw"] * 3
    for t in trials:
        lr = t["nuisance"]["learning_rate"]
        assert (1e-3 <= lr <= 1.0) if t["scientific"]["optimizer"] == "nesterov" else (
            1e-4 <= lr <= 1e-1)


STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(baseline={baseline!r}, scientific={scientific},
                  nuisance={nuisance}, budget=2)
"""


@pytest.mark.parametrize("scientific, nuisance, message", [
    ("{'optimzer': ['adamw']}", "{}",
     "scientific key 'optimzer' is not in the baseline config (did you mean 'optimizer'?)"),
    ("{'optimizer': ['adamw']}", "{'learning_rate': hp.log(0.0, 1.0)}",
     "log range of 'learning_rate' must be > 0"),
])
def test_config_error_exits_2_with_one_line_and_no_traceback(root, tmp_path, scientific, nuisance,
                                                             message):
    path = tmp_path / "bad_study.py"
    path.write_text(STUDY.format(baseline=str(root / "configs/synthetic_mlp.py"),
                                 scientific=scientific, nuisance=nuisance))
    workdir = tmp_path / "study"
    result = run("study", "--config", str(path), "--workdir", str(workdir), "--dry_run")
    assert result.returncode == 2
    assert result.stderr.strip() == f"playbook: error: {result.stderr.strip()[17:]}"
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not workdir.exists()


def test_missing_config_file_and_bad_override_are_config_errors(root, tmp_path, capsys):
    assert cli.main(["study", "--config", str(tmp_path / "nope.py"), "--workdir",
                     str(tmp_path / "s"), "--dry_run"]) == 2
    assert "config file" in capsys.readouterr().err
    assert cli.main(["study", "--config", str(root / "configs/studies/synthetic_optimizers.py"),
                     "--workdir", str(tmp_path / "s"), "--dry_run", "--config.budget=many"]) == 2
    assert "budget" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "history"])
def test_a_reader_that_leaves_early_ends_the_command_quietly_with_sigpipes_status(
        command, tmp_path):
    from test_analysis_load import write_study, write_trial

    root = write_study(tmp_path / "s", budget=2)
    for i, opt in enumerate(("nesterov", "adamw")):
        write_trial(root, f"{i:04d}", {"optimizer": opt},
                    {"learning_rate": 0.01, "weight_decay": 1e-4})
    # As `playbook status DIR | head -0`: the pipe's reader is gone before anything is written.
    process = subprocess.Popen([sys.executable, "-m", "playbook", command, root],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as a tool SIGPIPE ends
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
