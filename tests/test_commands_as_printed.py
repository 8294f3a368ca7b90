"""Every command that a real small study prints (the report's Commands section, the
findings, `compare` and `rerun`) runs as printed, from another working directory;
`status` and `rerun` show seed reruns apart; the report's tables and figures are
described in words and formatted for reading."""

import html
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from playbook.analysis import load as load_lib
from playbook.analysis import plots

EXE = [shutil.which("playbook")] if shutil.which("playbook") else [sys.executable, "-m",
                                                                     "playbook"]

STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"optimizer": ["nesterov", "adamw"]}},
        nuisance={{
            "learning_rate": hp.branches("optimizer", {{
                "nesterov": hp.log(1e-2, 0.3), "adamw": hp.log(1e-3, 3e-2)}}),
            "momentum": hp.reverse_log(0.8, 0.99, when={{"optimizer": "nesterov"}}),
            "weight_decay": hp.log(1e-7, 1e-5),
        }},
        fixed={{"max_train_steps": 60, "eval_every_steps": 20, "log_every_steps": 20}},
        budget=2)
"""


def playbook(args: list[str], cwd) -> subprocess.CompletedProcess:
    result = subprocess.run([*EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, (args, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    return result


def report_commands(study_dir) -> list[str]:
    page = (study_dir / "report" / "index.html").read_text()
    block = re.search(r"<h2>Commands</h2>\s*<pre>(.*?)</pre>", page, re.S).group(1)
    return [line for line in html.unescape(block).splitlines()
            if line.strip() and not line.startswith("#")]


def quoted_commands(text: str) -> list[str]:
    """Commands quoted in prose (findings, comparisons): `playbook ...`."""
    return re.findall(r"`(playbook [^`]+)`", text)


@pytest.mark.slow
def test_every_printed_command_runs_as_printed(root, tmp_path):
    config = tmp_path / "study.py"
    config.write_text(STUDY.format(baseline=str(root / "configs/synthetic_mlp.py")))
    study_dir = tmp_path / "runs" / "study"
    elsewhere = tmp_path / "elsewhere"  # commands must not depend on the directory
    elsewhere.mkdir()
    first = playbook(["study", "--config", str(config), "--workdir", str(study_dir),
                      "--no_progress"], cwd=tmp_path)

    commands = report_commands(study_dir)
    assert commands[0] == shlex.join(["playbook", "study", "--config", str(config),
                                      "--workdir", str(study_dir)])
    assert any(c.startswith(f"playbook adopt {study_dir} --value optimizer=") for c in commands)
    found = quoted_commands(first.stdout)  # the findings printed at the end of the study
    assert any("--config.budget=" in c for c in found)  # too few trials for 2-3 dimensions

    outputs = {}
    for command in commands:
        outputs[command] = playbook(shlex.split(command)[1:], cwd=elsewhere).stdout
    for command in found + quoted_commands(outputs[f"playbook compare {study_dir}"]):
        args = shlex.split(command)[1:]
        if "--config.budget=" in command:  # would train dozens of trials: checked, not run
            args.append("--dry_run")
        assert "continues it" in playbook(args, cwd=elsewhere).stdout or "--dry_run" not in args

    # rerun: ends with each rerun trial's seeds' mean and spread (the trial itself not
    # counted, as compare counts), what it counted, then how to compare.
    rerun_command = next(c for c in commands if c.startswith("playbook rerun"))
    seeds = int(rerun_command.split("--seeds ")[1].split()[0])
    rerun = outputs[rerun_command].splitlines()
    trials = load_lib.Study.load(study_dir).trials
    for line in rerun[-4:-2]:
        trial_id = re.search(r"trial (\d{4}) \(selected at", line).group(1)
        values = trials.loc[trials["repeats"] == trial_id, "objective"].astype(float).dropna()
        assert f"mean {values.mean():.4g} ± {values.std():.2g} (std over {len(values)} seed " \
               f"reruns;" in line
    assert rerun[-2].startswith("counted: ")
    assert rerun[-1] == f"compare the scientific values beyond this variance: playbook compare " \
                        f"{study_dir}"

    # status: seed reruns in their own column, the budget's trials alone in the others.
    status = playbook(["status", str(study_dir)], cwd=elsewhere).stdout.splitlines()
    assert status[1].split() == ["scientific", "pending", "running", "done", "diverged",
                                 "failed", "reruns", "best"]
    for row in status[2:4]:
        pending, running, done, diverged, failed, reruns = row.split()[1:7]
        assert int(done) + int(diverged) + int(failed) == 2 and reruns.endswith(f"/{seeds}")

    check_report_details(study_dir)


def check_report_details(study_dir) -> None:
    page = (study_dir / "report" / "index.html").read_text()
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions and not any("_" in c.split(":")[0] and " " not in c for c in captions)
    assert "Axis plot of learning_rate: valid/error_rate of every trial" in html.unescape(
        "".join(captions))
    table = page[page.index("<h2>Every trial</h2>"):]
    headers = re.findall(r"<th>(.*?)</th>", table)
    assert "index" not in headers and "repeats" not in headers and "point" in headers
    assert "point: the quasi-random point" in table
    cells = re.findall(r"<td>(.*?)</td>", table)
    assert "None" not in cells and "nan" not in cells
    numbers = [c for c in cells if re.fullmatch(r"-?[0-9.]+(e[-+][0-9]+)?", c)]
    assert any("e-0" in c for c in numbers)  # weight decays of 1e-7 to 1e-5
    for cell in numbers:  # 4 significant digits at most: 1.465e-06, never 0.000001
        if re.fullmatch(r"\d{4}", cell):
            continue  # a trial id
        value = float(cell)
        assert cell in (f"{value:.4g}", f"{value:.0f}"), cell

    study = load_lib.Study.load(study_dir)
    ticks = plots.best_step_plot(study).axes[0].get_yticks()
    assert all(float(t).is_integer() for t in ticks)
    title = plots.isolation_plot(study).axes[0].get_title().splitlines()
    assert "optimizer=nesterov tuned learning_rate, momentum, weight_decay" in title
    assert "optimizer=adamw tuned learning_rate, weight_decay" in title
