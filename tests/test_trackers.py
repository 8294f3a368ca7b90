"""Optional trackers: a study's trial logged to MLflow (file store) and to W&B (offline),
read back from what each wrote; off unless PLAYBOOK_TRACKERS names them."""

import glob
import importlib.util
import json
import os

import pytest
from study_templates import BASELINE

from playbook import config as config_lib
from playbook.errors import ConfigError
from playbook.train import loop, trackers

# In CI (which installs the dev extra) a missing tracker fails its test instead of skipping.
HAVE = {name: bool(os.environ.get("CI")) or importlib.util.find_spec(name) is not None
        for name in trackers.KNOWN}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One tiny trial of study 'tracked_study', logged to every installed tracker."""
    if not any(HAVE.values()):
        pytest.skip("neither wandb nor mlflow is installed")
    root = tmp_path_factory.mktemp("trackers")
    study = root / "study"
    (study / "trials").mkdir(parents=True)
    (study / "study.json").write_text(json.dumps({"spec": {"name": "tracked_study"}}))
    env = {trackers.ENV: ",".join(n for n, ok in HAVE.items() if ok),
           "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true",
           "MLFLOW_TRACKING_URI": f"file:{root / 'mlruns'}", "MLFLOW_ALLOW_FILE_STORE": "true"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        config = config_lib.load(BASELINE, [
            "--config.learning_rate=0.05", "--config.max_train_steps=20",
            "--config.eval_every_steps=10", "--config.log_every_steps=10"])
        result = loop.train_and_evaluate(config, study / "trials" / "0000", progress=False)
    assert result.status == "done"
    return root, result


@pytest.mark.slow
@pytest.mark.skipif(not HAVE["mlflow"], reason="mlflow is not installed")
def test_mlflow_has_the_trial_under_the_study_experiment(tracked):
    import mlflow

    root, result = tracked
    client = mlflow.MlflowClient(tracking_uri=f"file:{root / 'mlruns'}")
    experiment = client.get_experiment_by_name("tracked_study")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "0000" and run.info.status == "FINISHED"
    assert float(run.data.params["learning_rate"]) == 0.05
    assert run.data.metrics["best/valid/error_rate"] == pytest.approx(
        result.best["valid/error_rate"])
    history = client.get_metric_history(run.info.run_id, "valid/error_rate")
    assert [m.step for m in history] == [10, 20]


def _wandb_records(path):
    """The records of a W&B offline run file (a LevelDB-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:                    # a block's padded tail
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):                             # full record, or a last fragment
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def _key(item):
    return item.key or "/".join(item.nested_key)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE["wandb"], reason="wandb is not installed")
def test_wandb_has_the_trial_in_the_study_group(tracked):
    root, result = tracked
    (path,) = glob.glob(os.path.join(root, "wandb", "offline-run-*", "run-*.wandb"))
    records = list(_wandb_records(path))
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.run_group == "tracked_study" and run.display_name == "0000"
    config = {i.key: json.loads(i.value_json) for r in records
              if r.WhichOneof("record_type") == "config" for i in r.config.update}
    assert config["learning_rate"] == 0.05
    history = {r.history.step.num: {_key(i): json.loads(i.value_json) for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"}
    assert sorted(s for s, h in history.items() if "valid/error_rate" in h) == [10, 20]
    assert history[20]["valid/error_rate"] == pytest.approx(result.final["valid/error_rate"])
    summary = {_key(i): json.loads(i.value_json) for r in records
               if r.WhichOneof("record_type") == "summary" for i in r.summary.update}
    assert summary["best/valid/error_rate"] == pytest.approx(result.best["valid/error_rate"])


def test_no_tracker_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(trackers.ENV, raising=False)
    assert trackers.create(str(tmp_path)) == []


def test_an_unknown_or_missing_tracker_is_a_one_line_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv(trackers.ENV, "wandb,neptune")
    with pytest.raises(ConfigError, match="tracker 'neptune'; valid: wandb, mlflow"):
        trackers.names()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    monkeypatch.setenv(trackers.ENV, "mlflow")
    with pytest.raises(ConfigError, match=r"pip install 'playbook\[mlflow\]'"):
        trackers.names()


def test_a_trial_of_a_study_is_named_by_its_id_in_the_study_group(tmp_path):
    (tmp_path / "s" / "trials" / "0007").mkdir(parents=True)
    (tmp_path / "s" / "study.json").write_text(json.dumps({"spec": {"name": "lr_sweep"}}))
    assert trackers.study_and_trial(str(tmp_path / "s" / "trials" / "0007")) == (
        "lr_sweep", "0007")
    assert trackers.study_and_trial(str(tmp_path / "lone")) == ("playbook", "lone")
