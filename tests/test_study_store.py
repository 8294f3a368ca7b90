"""The study directory: atomic writes, torn files, trial ids and claims."""

import json
import os
import subprocess
import sys

import pytest

from playbook.atomic import read_json, write_json
from playbook.errors import ConfigError
from playbook.study.store import StudyStore
from playbook.trial_files import last_step


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "result.json")
    write_json(path, {"status": "done", "best": {"valid/loss": float("nan")}})
    write_json(path, {"status": "diverged"})
    assert read_json(path) == {"status": "diverged"}
    assert os.listdir(tmp_path) == ["result.json"]


def test_half_written_json_reads_as_missing(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"status": "do')
    assert read_json(str(path)) is None
    assert read_json(str(tmp_path / "absent.json")) is None


def test_last_step_tolerates_a_torn_last_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"step": 40, "train/loss": 1.0}) + "\n" + '{"step": 60, "train/lo')
    assert last_step(str(tmp_path)) == 40
    assert last_step(str(tmp_path / "nowhere")) == 0


@pytest.mark.parametrize("bad", ["../../etc", "0001/../../x", "/tmp/x", "a b", ""])
def test_trial_ids_cannot_escape_the_study_directory(tmp_path, bad):
    with pytest.raises(ConfigError, match="is not a trial id"):
        StudyStore(str(tmp_path)).trial_dir(bad)


def test_a_claimed_trial_cannot_be_claimed_by_another_process(tmp_path):
    store = StudyStore(str(tmp_path))
    os.makedirs(store.trial_dir("0000"))
    code = ("import sys; from playbook.study.store import StudyStore\n"
            "with StudyStore(sys.argv[1]).claim('0000') as mine: print(mine)")
    with store.claim("0000") as mine:
        assert mine
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                               text=True, check=True)
        assert other.stdout.strip() == "False"
        assert store.is_claimed("0000") is True
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                           text=True, check=True)
    assert other.stdout.strip() == "True"
    assert store.is_claimed("0000") is False


def test_missing_or_corrupt_study_json_is_named(tmp_path):
    store = StudyStore(str(tmp_path))
    with pytest.raises(ConfigError, match="is not a study directory \\(it has no study.json\\)"):
        store.read_study()
    (tmp_path / "study.json").write_text("{not json")
    with pytest.raises(ConfigError, match="study.json' is unreadable"):
        store.read_study()
