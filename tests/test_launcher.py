"""The TPU VM launcher builds the gcloud commands that create (or reuse) a VM,
copy and install the committed tree on every worker, and run a study synced
with a gs:// directory, or one multi-host trial with jax.distributed."""

from __future__ import annotations

import importlib.util
import pathlib
import shlex
import subprocess
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


# gcloud's documented synopses (https://cloud.google.com/sdk/gcloud/reference/compute/tpus/
# tpu-vm/{create,describe,ssh,scp}): flag -> whether it takes a value. The launcher's
# commands are checked against these, not against its own lists.
_WIDE = {"--access-token-file": True, "--account": True, "--billing-project": True,
         "--configuration": True, "--flags-file": True, "--flatten": True, "--format": True,
         "--help": False, "--impersonate-service-account": True, "--log-http": False,
         "--project": True, "--quiet": False, "--trace-token": True,
         "--user-output-enabled": False, "--verbosity": True}
_SSH_KEYS = {"--dry-run": False, "--force-key-file-overwrite": False, "--internal-ip": False,
             "--plain": False, "--ssh-key-file": True, "--strict-host-key-checking": True,
             "--worker": True, "--zone": True, "--ssh-key-expiration": True,
             "--ssh-key-expire-after": True}
GCLOUD_TPU_VM = {
    "create": {"--zone": True, "--version": True, "--async": False, "--boot-disk": True,
               "--data-disk": True, "--description": True, "--internal-ips": False,
               "--labels": True, "--metadata": True, "--metadata-from-file": True,
               "--network": True, "--preemptible": False, "--queue-count": True,
               "--range": True, "--reserved": False, "--scopes": True,
               "--service-account": True, "--shielded-secure-boot": False, "--spot": False,
               "--subnetwork": True, "--tags": True, "--accelerator-type": True,
               "--topology": True, "--type": True},
    "describe": {"--zone": True},
    "ssh": {**_SSH_KEYS, "--ssh-flag": True, "--command": True, "--output-directory": True},
    "scp": {**_SSH_KEYS, "--compress": False, "--recurse": False, "--scp-flag": True},
}


def _check_documented(command: list[str]) -> tuple[str, list[str], dict[str, str | None]]:
    """Asserts that `command` is a documented gcloud TPU VM command with documented flags,
    each with a value exactly when it takes one; returns its verb, positionals and flags."""
    assert command[:4] == ["gcloud", "compute", "tpus", "tpu-vm"], command
    verb, documented = command[4], {**_WIDE, **GCLOUD_TPU_VM[command[4]]}
    positionals, flags = [], {}
    for token in command[5:]:
        if not token.startswith("--"):
            positionals.append(token)
            continue
        name, has_value, value = token.partition("=")
        assert name in documented, f"gcloud compute tpus tpu-vm {verb} has no flag {name}"
        assert has_value == "=" if documented[name] else not has_value, token
        flags[name] = value if has_value else None
    if "--worker" in flags:  # a worker index, or all of them
        assert flags["--worker"] == "all" or flags["--worker"].isdigit(), flags
    return verb, positionals, flags


@pytest.mark.parametrize("exists", [False, True])
def test_every_gcloud_command_uses_only_documented_flags_and_arguments(exists):
    commands = [c for c in launch.plan(TPU, exists, "true") if c[0] == "gcloud"]
    commands.append(TPU.describe())
    verbs = []
    for command in commands:
        verb, positionals, flags = _check_documented(command)
        verbs.append(verb)
        assert flags["--zone"] == TPU.zone and flags["--project"] == TPU.project
        if verb == "create":  # TPU positional; --version required; a type or a topology
            assert positionals == [TPU.name] and flags["--version"]
            assert ("--accelerator-type" in flags) != ({"--topology", "--type"} <= set(flags))
        elif verb in ("describe", "ssh"):
            assert positionals == [TPU.name]
        else:  # scp SRC... [USER@]INSTANCE:DEST, to every worker
            *sources, dest = positionals
            assert sources and dest.split(":", 1)[0] == TPU.name and ":" not in sources[0]
        if verb in ("ssh", "scp"):
            assert flags["--worker"] == "all"
    assert verbs == [*([] if exists else ["create"]), "scp", "ssh", "ssh", "describe"]


def test_the_remote_install_uses_the_package_pins_and_a_declared_extra():
    import configparser

    setup = configparser.ConfigParser()
    setup.read(_PATH.parents[2] / "setup.cfg")
    requires = setup["options"]["install_requires"].split("\n")
    jax_pin = next(r.strip() for r in requires if r.strip().startswith("jax>"))
    assert launch.JAX_TPU == jax_pin.replace("jax", "jax[tpu]", 1)
    extras = setup["options.extras_require"]
    command = launch.install(TPU)[-1]
    extra = command.rsplit("[", 1)[1].split("]")[0]
    assert extra in extras and "tensorflow-datasets" in extras[extra]


def test_git_archive_writes_the_format_the_launcher_asks_for():
    formats = subprocess.run(["git", "archive", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    (fmt,) = [a.split("=", 1)[1] for a in launch.archive() if a.startswith("--format=")]
    assert fmt in formats
