"""`playbook export`: the trials table as CSV, JSON and Parquet, read back with ids intact."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from dashboard_studies import hostile_study

from playbook import cli
from playbook.analysis import export, load_study

COLUMNS = ["trial_id", "label", "optimizer", "learning_rate", "model.activation", "status",
           "reason", "objective", "best_step", "max_train_steps", "steps", "seed", "repeats"]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = hostile_study(tmp_path_factory.mktemp("export") / "study")
    from test_analysis_load import write_trial

    write_trial(root, "0001-seed1", {"optimizer": "adamw"},
                {"learning_rate": 1e-3, "model.activation": "relu"}, objective=0.3, seed=1,
                repeats="0001")
    return root


FORMATS = ["csv", "json", pytest.param("parquet", marks=pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None and not os.environ.get("CI"),
    reason="pyarrow is not installed"))]  # CI installs it (dev extra): there it must not skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_round_trips_with_trial_ids_as_strings(study_dir, tmp_path, fmt, capsys):
    out = tmp_path / f"trials.{fmt}"
    assert cli.main(["export", study_dir, "--format", fmt, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    table = export.read_trials(out)
    truth = load_study(study_dir)
    assert list(table.columns) == COLUMNS
    assert list(table["trial_id"]) == list(truth["trial_id"])
    assert table["trial_id"].iloc[0] == "0000"
    assert table.set_index("trial_id").loc["0001-seed1", "repeats"] == "0001"
    assert table.set_index("trial_id").loc["0008", "reason"] == "collapsed"
    pd.testing.assert_series_equal(table["objective"], truth["objective"], check_names=False)
    pd.testing.assert_series_equal(table["best_step"], truth["best_step"], check_names=False)
    assert list(table["status"]) == list(truth["status"])
    assert list(table["model.activation"]) == list(truth["model.activation"])


def test_json_export_keeps_ids_for_a_plain_pandas_reader(study_dir, tmp_path):
    out = export.export(study_dir, "json", tmp_path / "trials.json")
    table = pd.read_json(out, orient="table")
    assert table["trial_id"].iloc[0] == "0000"
    assert json.load(open(out))["data"][0]["trial_id"] == "0000"


def test_csv_export_quotes_nothing_away(study_dir, tmp_path):
    out = export.export(study_dir, "csv", tmp_path / "trials.csv")
    with open(out) as f:
        header, first = f.readline(), f.readline()
    assert header.strip().split(",")[:3] == ["trial_id", "label", "optimizer"]
    assert first.startswith("0000,optimizer=nesterov,nesterov,")


def _files(directory) -> dict[str, int]:
    return {os.path.join(d, name): os.stat(os.path.join(d, name)).st_mtime_ns
            for d, _, names in os.walk(directory) for name in names}


@pytest.mark.parametrize("fmt, out", [("csv", []), ("json", []), ("csv", ["--out", "-"])])
def test_text_formats_go_to_standard_output_and_the_study_is_left_as_it_was(
        study_dir, tmp_path, capsys, fmt, out):
    before = _files(study_dir)
    capsys.readouterr()
    assert cli.main(["export", study_dir, "--format", fmt, *out]) == 0
    printed, err = capsys.readouterr()
    assert err == "" and _files(study_dir) == before
    (tmp_path / f"stdout.{fmt}").write_text(printed)
    written = export.export(study_dir, fmt, tmp_path / f"file.{fmt}")
    assert printed == open(written).read()  # the table alone, as a file holds it
    table = export.read_trials(tmp_path / f"stdout.{fmt}")
    assert list(table.columns) == COLUMNS and table["trial_id"].iloc[0] == "0000"


def test_parquet_without_out_is_one_line_and_writes_nothing(study_dir, capsys):
    before = _files(study_dir)
    assert cli.main(["export", study_dir, "--format", "parquet"]) == 2
    printed, err = capsys.readouterr()
    assert printed == "" and err.splitlines() == [
        "playbook: error: parquet is binary: give the file to write with --out FILE.parquet "
        "(csv and json go to standard output without --out)"]
    assert _files(study_dir) == before


def test_the_format_follows_the_extension_of_out(study_dir, tmp_path, capsys):
    out = tmp_path / "trials.json"
    assert cli.main(["export", study_dir, "--out", str(out)]) == 0
    assert json.load(open(out))["data"][0]["trial_id"] == "0000"


def test_a_reader_that_stops_early_ends_the_export_without_a_traceback(study_dir):
    """`playbook export DIR | head`: the reader has gone before the table is written."""
    exe = shutil.which("playbook") or sys.executable
    args = [exe] if shutil.which("playbook") else [exe, "-m", "playbook"]
    process = subprocess.Popen([*args, "export", study_dir], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141, err  # 128 + SIGPIPE, as `yes | head` ends
    assert err == ""


def test_parquet_without_pyarrow_is_one_line_naming_the_extra(study_dir, tmp_path, capsys,
                                                             monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    assert cli.main(["export", study_dir, "--format", "parquet",
                     "--out", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'playbook[parquet]'" in err
    assert not (tmp_path / "t.parquet").exists()


def test_export_of_a_non_study_directory_is_exit_2(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err
