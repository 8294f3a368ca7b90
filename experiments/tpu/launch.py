"""Runs a playbook study (or one trial) on a Cloud TPU VM: creates the VM or
reuses it, copies this repository and installs it on every worker, and runs
the command on all workers at once. The study's durable copy is a gs:// path.

    python experiments/tpu/launch.py --name pb-v4 --zone us-central2-b \
        --accelerator v4-8 --study configs/studies/imagenet_resnet50_bfloat16.py \
        --bucket gs://BUCKET/studies [--project P] [--spot] [--dry_run]

Single-host slices (v4-8, v5litepod-8, v6e-8: one worker) run `playbook study`
on the VM's disk, synced from the bucket before the run (a recreated, e.g.
preempted, VM resumes where the last one stopped) and to it after. The study
store relies on POSIX files and locks, which gs:// does not have, hence the
sync. Multi-host slices (`--train CONFIG`, more than one worker) run one trial
with `playbook train --config.distributed=True` on every worker; JAX finds the
other hosts through the TPU metadata. This module only builds and runs gcloud
commands; it is not imported by playbook.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import subprocess
import sys

TPU_VERSION = "tpu-ubuntu2204-base"
JAX_TPU = "jax[tpu]>=0.4.30,<0.12"
REMOTE_DIR = "playbook"
ARCHIVE = "/tmp/playbook-src.tar.gz"


@dataclasses.dataclass(frozen=True)
class TPU:
    name: str
    zone: str
    accelerator: str = "v4-8"
    project: str = ""
    version: str = TPU_VERSION
    spot: bool = False

    def _where(self) -> list[str]:
        return [f"--zone={self.zone}"] + ([f"--project={self.project}"] if self.project else [])

    def describe(self) -> list[str]:
        return ["gcloud", "compute", "tpus", "tpu-vm", "describe", self.name, *self._where(),
                "--format=value(state)"]

    def create(self) -> list[str]:
        return ["gcloud", "compute", "tpus", "tpu-vm", "create", self.name, *self._where(),
                f"--accelerator-type={self.accelerator}", f"--version={self.version}",
                *(["--spot"] if self.spot else [])]

    def scp(self, local: str, remote: str) -> list[str]:
        return ["gcloud", "compute", "tpus", "tpu-vm", "scp", local, f"{self.name}:{remote}",
                *self._where(), "--worker=all"]

    def ssh_all(self, command: str) -> list[str]:
        return ["gcloud", "compute", "tpus", "tpu-vm", "ssh", self.name, *self._where(),
                "--worker=all", f"--command={command}"]


def archive() -> list[str]:
    """Packs the committed tree of this repository (what runs is what is committed)."""
    return ["git", "archive", "--format=tar.gz", f"--output={ARCHIVE}", "HEAD"]


def install(tpu: TPU, extras: str = "tfds") -> list[str]:
    remote = (f"rm -rf ~/{REMOTE_DIR} && mkdir -p ~/{REMOTE_DIR} && "
              f"tar xzf ~/playbook-src.tar.gz -C ~/{REMOTE_DIR} && "
              f"python3 -m pip install -q -U pip && "
              f"python3 -m pip install -q {shlex.quote(JAX_TPU)} "
              f"-e {shlex.quote(f'./{REMOTE_DIR}[{extras}]')}")
    return tpu.ssh_all(remote)


def study_command(study: str, bucket: str, overrides: list[str] = ()) -> str:
    """Shell command for a single-host study: sync down, run, sync up (also on failure)."""
    if not bucket.startswith("gs://"):
        raise ValueError(f"--bucket must be a gs:// path, got '{bucket}'")
    name = study.rsplit("/", 1)[-1].removesuffix(".py")
    local, remote = f"~/studies/{name}", f"{bucket.rstrip('/')}/{name}"
    run = " ".join(["playbook", "study", f"--config={shlex.quote(study)}",
                    f"--workdir={local}", *map(shlex.quote, overrides)])
    return (f"export PATH=$HOME/.local/bin:$PATH && cd ~/{REMOTE_DIR} && mkdir -p {local} && "
            f"(gsutil -m -q rsync -r {remote} {local} || true) && "
            f"{run}; status=$?; gsutil -m -q rsync -r {local} {remote}; exit $status")


def train_command(config: str, workdir: str, overrides: list[str] = ()) -> str:
    """Shell command for one trial on every worker of a multi-host slice."""
    run = " ".join(["playbook", "train", f"--config={shlex.quote(config)}",
                    f"--workdir={shlex.quote(workdir)}", "--config.distributed=True",
                    *map(shlex.quote, overrides)])
    return f"export PATH=$HOME/.local/bin:$PATH && cd ~/{REMOTE_DIR} && {run}"


def plan(tpu: TPU, exists: bool, remote_command: str) -> list[list[str]]:
    """The commands, in order: create (unless it exists), copy, install, run."""
    return [*([] if exists else [tpu.create()]), archive(),
            tpu.scp(ARCHIVE, "~/playbook-src.tar.gz"), install(tpu), tpu.ssh_all(remote_command)]


def vm_exists(tpu: TPU) -> bool:
    result = subprocess.run(tpu.describe(), capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() in ("READY", "CREATING")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--zone", required=True)
    parser.add_argument("--accelerator", default="v4-8")
    parser.add_argument("--project", default="")
    parser.add_argument("--version", default=TPU_VERSION)
    parser.add_argument("--spot", action="store_true")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--study", help="a study config: single-host slices")
    what.add_argument("--train", help="a baseline config: one trial on every worker")
    parser.add_argument("--bucket", help="gs:// directory of studies (with --study)")
    parser.add_argument("--workdir", help="trial directory (with --train)")
    parser.add_argument("--dry_run", action="store_true", help="print the commands only")
    args, overrides = parser.parse_known_args(argv)
    tpu = TPU(args.name, args.zone, args.accelerator, args.project, args.version, args.spot)
    if args.study:
        if not args.bucket:
            parser.error("--study needs --bucket gs://...")
        remote = study_command(args.study, args.bucket, overrides)
    else:
        if not args.workdir:
            parser.error("--train needs --workdir")
        remote = train_command(args.train, args.workdir, overrides)
    commands = plan(tpu, exists=False if args.dry_run else vm_exists(tpu), remote_command=remote)
    for command in commands:
        print(shlex.join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
