"""Where a study's time goes, per trial phase: wall and CPU seconds of each phase of
a whole `playbook study` run in this process, exclusive of the phases inside it.

    python benchmarks/study_profile.py [--eval_every 100] [--budget 4] [--trials_per_program 1]
        [--checkout DIR]

Runs benchmarks/study_mnist1d_halton.py (the MNIST-1D MLP, Nesterov and AdamW,
`--budget` Halton trials each, 2000 steps, constant learning rate) through
`playbook.cli.main` with `--compilation_cache none --no_progress --no_report`,
after wrapping the functions of each phase in a timer:

- start-up: this interpreter's imports of playbook, jax, flax, orbax (before the study);
- config + data: `loop.setup` (the dataset comes from its on-disk cache);
- init state: `loop.start` (its program compiles once per structure);
- compile + first dispatch: a program's first `train` call (tracing and XLA);
- training: the rest of `driver.Driver.run` (dispatches, waits for the device, train metrics);
- evaluation: `evaluation.evaluate` and `setup.eval_batches`;
- metric writing: `MetricsWriter` (metrics.jsonl, TensorBoard, trackers);
- checkpoint saves: `Checkpoints.save` (best and latest share one orbax save), and
  checkpoint waits (`wait`, `close`: the asynchronous saves finishing);
- result writing: `result.write`; runner bookkeeping: the rest of `runner.run`
  (claims, locks, trial records, designer) and of the command.

Wall time is of the main thread; CPU time (`time.process_time`) is of the whole
process while the phase runs, so it includes orbax's and XLA's threads. Results
are in benchmarks/README.md.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()
_STARTED_CPU = time.process_time()

import argparse  # noqa: E402
import collections  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402

# `--checkout DIR` profiles the playbook of another checkout (e.g. an earlier version).
_CHECKOUT = (sys.argv[sys.argv.index("--checkout") + 1] if "--checkout" in sys.argv
             else os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.abspath(_CHECKOUT))

import jax  # noqa: E402, F401
import orbax.checkpoint  # noqa: E402, F401

from playbook import cli, trial_files  # noqa: E402
from playbook.study import runner  # noqa: E402
from playbook.train import checkpoints as checkpoints_lib  # noqa: E402
from playbook.train import driver, evaluation, loop, setup  # noqa: E402
from playbook.train import metrics as metrics_lib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PHASES = ("start-up (imports)", "config + data", "init state", "compile + first dispatch", "training",
          "evaluation", "metric writing", "checkpoint saves", "checkpoint waits",
          "result writing", "runner bookkeeping")


class Profile:
    """Exclusive wall and CPU seconds per phase, on the main thread."""

    def __init__(self):
        self.wall: dict[str, float] = collections.defaultdict(float)
        self.cpu: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)
        self._stack: list[list] = []  # [phase, wall start, cpu start, child wall, child cpu]

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            with self.phase(phase):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def phase(self, phase: str):
        profile = self

        class _Phase:
            def __enter__(self):
                self.main = threading.current_thread() is threading.main_thread()
                if self.main:
                    profile._stack.append([phase, time.perf_counter(), time.process_time(), 0, 0])

            def __exit__(self, *exc):
                if not self.main:
                    return
                name, wall0, cpu0, child_wall, child_cpu = profile._stack.pop()
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                profile.wall[name] += wall - child_wall
                profile.cpu[name] += cpu - child_cpu
                profile.calls[name] += 1
                if profile._stack:
                    profile._stack[-1][3] += wall
                    profile._stack[-1][4] += cpu

        return _Phase()


def instrument(profile: Profile) -> None:
    wrap = profile.wrap
    wrap(runner, "run", "runner bookkeeping")
    wrap(loop, "setup", "config + data")
    wrap(loop, "start", "init state")
    wrap(driver.Driver, "run", "training")  # batched.GroupDriver's too
    wrap(evaluation, "evaluate", "evaluation")
    wrap(setup, "eval_batches", "evaluation")
    for name in ("__init__", "write", "write_hparams", "write_tensorboard", "flush", "close"):
        wrap(metrics_lib.MetricsWriter, name, "metric writing")
    for name in ("__init__", "save"):
        wrap(checkpoints_lib.Checkpoints, name, "checkpoint saves")
    for name in ("wait", "close"):
        wrap(checkpoints_lib.Checkpoints, name, "checkpoint waits")
    wrap(trial_files, "write_result", "result writing")
    compiled: set[int] = set()
    original_programs = loop.programs

    def programs(trial):
        progs = original_programs(trial)
        train = progs.train

        def first_call_timed(*args, **kwargs):
            if id(train) in compiled:
                return train(*args, **kwargs)
            compiled.add(id(train))
            with profile.phase("compile + first dispatch"):
                out = train(*args, **kwargs)
                jax.block_until_ready(out)
                return out

        return loop.Programs(init=progs.init, train=first_call_timed, evaluate=progs.evaluate)

    loop.programs = programs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--budget", type=int, default=4, help="trials per optimizer")
    parser.add_argument("--trials_per_program", default="1")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--checkout", default=None, help="import playbook from this checkout")
    args = parser.parse_args()
    profile = Profile()
    profile.wall["start-up (imports)"] = time.perf_counter() - _STARTED
    profile.cpu["start-up (imports)"] = time.process_time() - _STARTED_CPU
    instrument(profile)
    workdir = args.workdir or tempfile.mkdtemp(prefix="study_profile_")
    config = os.path.join(HERE, f"study_mnist1d_halton.py:{args.eval_every},{args.budget}")
    start, start_cpu = time.perf_counter(), time.process_time()
    with profile.phase("runner bookkeeping"):
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            cli.main(["study", "--config", config, "--workdir", workdir, "--no_progress",
                      "--no_report", "--compilation_cache", "none",
                      "--trials_per_program", args.trials_per_program])
    total = time.perf_counter() - start + profile.wall["start-up (imports)"]
    total_cpu = time.process_time() - start_cpu + profile.cpu["start-up (imports)"]
    trials = len(os.listdir(os.path.join(workdir, "trials")))
    print(f"playbook from {os.path.dirname(os.path.dirname(cli.__file__))}, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{trials} trials, evaluation every {args.eval_every} steps, trials_per_program "
          f"{args.trials_per_program}: {total:.1f} s wall, {total_cpu:.1f} s CPU, "
          f"{trials * 3600 / total:.0f} trials/hour")
    print("| phase | wall s | % wall | wall ms/trial | CPU s | calls |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase in PHASES:
        wall, cpu = profile.wall.get(phase, 0.0), profile.cpu.get(phase, 0.0)
        print(f"| {phase} | {wall:.2f} | {100 * wall / total:.0f}% | {1e3 * wall / trials:.0f} "
              f"| {cpu:.2f} | {profile.calls.get(phase, 1)} |")


if __name__ == "__main__":
    main()
