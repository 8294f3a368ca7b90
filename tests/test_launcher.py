"""The TPU VM launcher builds the gcloud commands that create (or reuse) a VM,
copy and install the committed tree on every worker, and run a study synced
with a gs:// directory, or one multi-host trial with jax.distributed."""

from __future__ import annotations

import importlib.util
import pathlib
import shlex
import sys

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "tpu" / "launch.py"
_spec = importlib.util.spec_from_file_location("tpu_launch", _PATH)
launch = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = launch  # dataclasses look their module up
_spec.loader.exec_module(launch)

TPU = launch.TPU("pb-v4", "us-central2-b", "v4-8", project="proj", spot=True)


def test_a_new_vm_is_created_then_the_tree_copied_installed_and_run_on_every_worker():
    commands = launch.plan(TPU, exists=False, remote_command="echo hi")

    assert commands[0] == ["gcloud", "compute", "tpus", "tpu-vm", "create", "pb-v4",
                           "--zone=us-central2-b", "--project=proj", "--accelerator-type=v4-8",
                           f"--version={launch.TPU_VERSION}", "--spot"]
    assert commands[1][:2] == ["git", "archive"]
    assert commands[2][4:7] == ["scp", launch.ARCHIVE, "pb-v4:~/playbook-src.tar.gz"]
    for ssh in commands[2:]:
        if "ssh" in ssh:
            assert "--worker=all" in ssh
    assert "jax[tpu]" in commands[3][-1] and "[tfds]" in commands[3][-1]
    assert commands[4][-1] == "--command=echo hi"


def test_an_existing_vm_is_reused():
    commands = launch.plan(TPU, exists=True, remote_command="true")
    assert not any("create" in c for c in commands)
    assert len(commands) == 4


def test_a_study_is_synced_from_the_bucket_run_and_synced_back_even_when_it_fails():
    command = launch.study_command("configs/studies/lm1b_depth.py", "gs://b/studies/",
                                   ["--executor=inline"])
    down = command.index("rsync -r gs://b/studies/lm1b_depth ~/studies/lm1b_depth")
    run = command.index("playbook study --config=configs/studies/lm1b_depth.py "
                        "--workdir=~/studies/lm1b_depth --executor=inline")
    up = command.index("rsync -r ~/studies/lm1b_depth gs://b/studies/lm1b_depth")
    assert down < run < up
    assert command.endswith("exit $status")  # the study's exit status, after syncing


def test_a_multi_host_trial_initializes_jax_distributed_on_every_worker():
    command = launch.train_command("configs/imagenet_resnet50.py", "/tmp/rn50",
                                   ["--config.batch_size=4096"])
    args = shlex.split(command.split("&& ", 2)[-1])
    assert args == ["playbook", "train", "--config=configs/imagenet_resnet50.py",
                    "--workdir=/tmp/rn50", "--config.distributed=True",
                    "--config.batch_size=4096"]


def test_the_study_bucket_must_be_a_gs_path():
    with pytest.raises(ValueError, match="gs://"):
        launch.study_command("configs/studies/lm1b_depth.py", "/tmp/studies")


def test_dry_run_prints_every_command_and_runs_none(capsys, monkeypatch):
    monkeypatch.setattr(launch.subprocess, "run", lambda *a, **k: pytest.fail("ran"))
    assert launch.main(["--name", "pb", "--zone", "z", "--study",
                        "configs/studies/lm1b_depth.py", "--bucket", "gs://b", "--dry_run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("gcloud compute tpus tpu-vm create pb")
