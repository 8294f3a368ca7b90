"""A whole study of small trials, playbook against Optuna driving a hand-written
Flax/optax loop, side by side in one run, alternating, both processes started cold.

    python benchmarks/study_vs_optuna.py [--evals 100,250,25] [--rounds 1] [--budget 16]
        [--trials_per_program 1] [--also /path/to/another/checkout]

The work (both sides): the MNIST-1D MLP (configs/mnist1d_mlp.py: 40-256-256-10,
batch 128), Nesterov and AdamW with `--budget` quasi-random trials each, 2000
steps per trial at a constant learning rate, the validation error every EVAL
steps, best-checkpoint selection.

- playbook: `playbook study --config benchmarks/study_mnist1d_halton.py:EVAL,BUDGET
  --compilation_cache none --no_progress --no_report` in a new process (Halton
  designer; best and latest orbax checkpoints, metrics.jsonl, TensorBoard events,
  result files; `--trials_per_program` as given, each value a contender);
- Optuna: benchmarks/optuna_flax_study.py in a new process (QMC sampler with
  scrambled Halton points, best parameters kept in memory, nothing written).

Each round runs every contender once per EVAL, in alternating order. Prints
trials/hour (wall), CPU seconds (the child's user + system time), and the
ratio playbook / Optuna per round and as the median. Results are in
benchmarks/README.md. Needs optuna (`pip install -e .[bench]`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def export_data(path: str) -> None:
    """The MNIST-1D train and validation arrays of configs/mnist1d_mlp.py, for the Optuna side."""
    from configs import mnist1d_mlp
    from playbook import workloads

    config = mnist1d_mlp.get_config()
    data = workloads.get("mnist1d").load(config)
    np.savez(path, train_x=np.asarray(data.train.inputs, np.float32),
             train_y=np.asarray(data.train.labels, np.int32),
             valid_x=np.asarray(data.valid.inputs, np.float32),
             valid_y=np.asarray(data.valid.labels, np.int32))


def timed(command: list[str], root: str = ROOT) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of `command` run to its end in a new process, importing
    playbook from `root`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def playbook_command(every: int, budget: int, k: str, workdir: str) -> list[str]:
    return [sys.executable, "-m", "playbook", "study", "--config",
            os.path.join(HERE, f"study_mnist1d_halton.py:{every},{budget}"),
            "--workdir", workdir, "--compilation_cache", "none", "--no_progress",
            "--no_report", "--trials_per_program", k]


def optuna_command(data: str, every: int, budget: int) -> list[str]:
    return [sys.executable, os.path.join(HERE, "optuna_flax_study.py"), data,
            "--eval_every", str(every), "--budget", str(budget)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evals", default="100,250,25", help="evaluation intervals, in steps")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--budget", type=int, default=16, help="trials per optimizer")
    parser.add_argument("--trials_per_program", default="1",
                        help="comma-separated playbook settings, each a contender")
    parser.add_argument("--also", default=None, metavar="CHECKOUT",
                        help="another playbook checkout (e.g. an earlier version) as a "
                             "contender, at trials_per_program 1")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="study_vs_optuna_")
    data = os.path.join(tmp, "mnist1d.npz")
    export_data(data)
    trials = 2 * args.budget
    contenders = ["optuna"] + [f"playbook k={k}" for k in args.trials_per_program.split(",")]
    if args.also:
        contenders.append("also k=1")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {trials} trials of "
          f"2000 steps per study; contenders {', '.join(contenders)}", flush=True)
    for every in (int(e) for e in args.evals.split(",")):
        walls: dict[str, list[float]] = {c: [] for c in contenders}
        cpus: dict[str, list[float]] = {c: [] for c in contenders}
        for r in range(args.rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for name in order:
                if name == "optuna":
                    command = optuna_command(data, every, args.budget)
                else:
                    command = playbook_command(every, args.budget, name.split("=")[1],
                                               os.path.join(tmp, f"eval{every}_{name[:4]}"
                                                             f"{name[-4:]}_{r}"))
                root = os.path.abspath(args.also) if name.startswith("also") else ROOT
                wall, cpu, out = timed(command, root)
                walls[name].append(wall)
                cpus[name].append(cpu)
                if name == "optuna":
                    assert json.loads(out.strip().splitlines()[-1])["trials"] == trials
                print(f"  eval every {every}, round {r + 1}: {name:<16} {wall:6.1f} s wall "
                      f"{cpu:6.1f} s CPU  {trials * 3600 / wall:6.0f} trials/hour", flush=True)
        base = statistics.median(walls["optuna"])
        for name in contenders:
            wall = statistics.median(walls[name])
            ratios = [o / w for o, w in zip(walls["optuna"], walls[name])]
            print(f"eval every {every:>3}: {name:<16} {trials * 3600 / wall:6.0f} trials/hour "
                  f"({wall:.1f} s wall, {statistics.median(cpus[name]):.1f} s CPU), "
                  f"ratio to optuna {base / wall:.2f} (per round "
                  f"{', '.join(f'{x:.2f}' for x in ratios)})", flush=True)


if __name__ == "__main__":
    main()
