"""`playbook export`: the trials table as CSV, JSON and Parquet, read back with ids intact."""

import importlib.util
import json
import os

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


def test_the_default_output_is_beside_the_study(study_dir, capsys):
    assert cli.main(["export", study_dir]) == 0
    assert os.path.exists(os.path.join(study_dir, "trials.csv"))
    os.unlink(os.path.join(study_dir, "trials.csv"))


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
