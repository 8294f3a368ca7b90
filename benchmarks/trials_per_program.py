"""The training loop against a hand-written one, batched trials, start-up and
checkpoint costs, on the MNIST-1D MLP baseline; every comparison side by side
in one run, alternating, median of `--rounds`.

    python benchmarks/trials_per_program.py [--rounds 3] [--skip_study]

(a) steps/s of a hand-written jitted Flax/optax step (one dispatch per step,
    batches indexed from the same arrays in the same order) against the
    loop's own compiled program (`loop.programs`, steps fused by its scan)
    and against a whole `train_and_evaluate` (its steady-state throughput);
(b) a study (configs/studies/mnist1d_optimizers.py at budget 4: 8 trials of
    2000 steps) run by `playbook study` with --trials_per_program 1, 2, 4 and
    auto, trials per hour;
(c) seconds from the start of a trial to its first logged step: the first
    trial of a new process (data loaded from its cache, programs compiled),
    the same with the persistent compilation cache warm, and a later trial of
    the same structure in one process (compiled programs reused);
(d) one checkpoint save (orbax, best-plus-latest, waited for) in training steps;
(e) the vmapped group program (`playbook.train.group_size.group_rates`) at K = 2,
    4, 8, 16 trials, per-trial steps/s against one trial's program, for the MNIST-1D MLP and
    the tiny synthetic MLP (which leaves the CPU mostly idle).

Results are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import program_steps_per_second  # noqa: E402

from configs import mnist1d_mlp  # noqa: E402
from playbook import config as config_lib  # noqa: E402
from playbook.data import batching  # noqa: E402
from playbook.train import loop, timing  # noqa: E402
from playbook.train.checkpoints import Checkpoints  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
STEPS = 1000  # per measurement; rounds alternate the contenders


def hand_written(trial: loop.TrialSetup, steps: int) -> float:
    """Steps/s of the plain loop a user writes: jit one step, call it per batch."""
    model, split = trial.model, trial.dataset.train
    # The baseline's optimizer: AdamW with a cosine decay over the trial.
    tx = optax.adamw(optax.cosine_decay_schedule(float(trial.config.learning_rate),
                                                 trial.max_train_steps), weight_decay=0.0)
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(split.inputs[:1]), train=False)["params"]
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply({"params": p}, x, train=True)
            return trial.workload.train_loss(logits, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def batch(s):
        idx = batching.train_indices(len(split), trial.batch_size, trial.seed, s)
        return split.inputs[idx], split.labels[idx]

    def call(carry, s):
        *carry, loss = step(*carry, *batch(s))
        return tuple(carry), loss

    return timing.time_calls(call, (params, opt_state), calls=steps,
                             in_flight=None).calls_per_second


def framework_trial(config, workdir: str) -> tuple[float, float]:
    """(steady-state steps/s, seconds to first step) of a whole trial."""
    result = loop.train_and_evaluate(config, workdir)
    return result.throughput.steps_per_second, result.throughput.first_step_seconds


def checkpoint_cost(trial: loop.TrialSetup, workdir: str, saves: int = 10) -> float:
    state = loop.init_state(trial, loop.programs(trial))
    with Checkpoints(workdir, trial.metric, trial.goal, keep_best=1) as ckpts:
        ckpts.save(0, state, {trial.metric: 1.0})
        ckpts.wait()
        start = time.perf_counter()
        for i in range(1, saves + 1):
            ckpts.save(i, state, {trial.metric: 1.0 / (i + 1)})
            ckpts.wait()
        return (time.perf_counter() - start) / saves


def new_process_first_step(cache: str | None) -> float:
    """Seconds to the first step of a trial in a new process using `cache` (or none)."""
    code = (f"import sys; sys.path.insert(0, {ROOT!r})\n"
            "import tempfile\n"
            "from configs import mnist1d_mlp\n"
            "from playbook.train import loop\n"
            + (f"loop.use_compilation_cache({cache!r})\n" if cache else "")
            + "c = mnist1d_mlp.get_config(); c.max_train_steps = 250; c.eval_every_steps = 250\n"
            + "r = loop.train_and_evaluate(c, tempfile.mkdtemp())\n"
            + "print(r.throughput.first_step_seconds)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return float(out.split()[-1])


def group_speedups(config, sizes=(1, 2, 4, 8, 16)) -> dict[int, float]:
    """Per-trial steps/s of K trials in one vmapped program over K = 1."""
    from playbook.train import group_size

    rates = group_size.group_rates(loop.setup(config), sizes, seconds=1.0)
    return {k: rates[k] / rates[1] for k in sizes if k > 1}


def study_trials_per_hour(k: str, workdir: str, study: str = "mnist1d_optimizers",
                          budget: int = 4) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "playbook", "study", "--config",
                    os.path.join(ROOT, f"configs/studies/{study}.py"),
                    f"--config.budget={budget}", "--workdir", workdir, "--no_progress",
                    "--no_report",
                    f"--trials_per_program={k}", "--compilation_cache=none"],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - start
    trials = len(os.listdir(os.path.join(workdir, "trials")))
    return trials * 3600 / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip_study", action="store_true")
    parser.add_argument("--only_study", action="store_true")
    args = parser.parse_args()
    if args.only_study:
        return studies(args.rounds, tempfile.mkdtemp())
    config = mnist1d_mlp.get_config()
    trial = loop.setup(config)
    print(f"{jax.devices()[0].device_kind}, {os.cpu_count()} CPUs, jax {jax.__version__}; "
          f"MNIST-1D MLP, batch {trial.batch_size}, {trial.steps_per_dispatch} steps per dispatch")
    tmp = tempfile.mkdtemp()
    rows: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    for r in range(args.rounds):
        hand = hand_written(trial, STEPS)
        program = program_steps_per_second(trial, STEPS)
        rate, first_step = framework_trial(config_lib.with_values(config, {"seed": r}),
                                           os.path.join(tmp, f"trial{r}"))
        rows.setdefault("(a) hand-written step, steps/s", []).append(hand)
        rows.setdefault("(a) framework program, steps/s", []).append(program)
        rows.setdefault("(a) framework trial (steady state), steps/s", []).append(rate)
        ratios.setdefault("program / hand-written", []).append(program / hand)
        ratios.setdefault("trial / hand-written", []).append(rate / hand)
        rows.setdefault("(c) later trial, same process: s to first step", []).append(first_step)
        rows.setdefault("(d) checkpoint save, ms", []).append(
            1e3 * checkpoint_cost(trial, os.path.join(tmp, f"ckpt{r}")))
    cache = os.path.join(tmp, "xla_cache")
    for _ in range(args.rounds):
        rows.setdefault("(c) new process, no compilation cache: s to first step", []).append(
            new_process_first_step(None))
        if not os.path.exists(cache):
            new_process_first_step(cache)  # fills the cache
        rows.setdefault("(c) new process, warm compilation cache: s to first step", []).append(
            new_process_first_step(cache))
    med = {k: statistics.median(v) for k, v in rows.items()}
    for key, value in med.items():
        print(f"{key:<62} {value:10.2f}")
    for key, values in ratios.items():
        print(f"(a) ratio {key}: median {statistics.median(values):.2f} of per-round "
              f"{', '.join(f'{v:.2f}' for v in values)}")
    step_ms = 1e3 / med["(a) framework program, steps/s"]
    print(f"(d) one checkpoint save = {med['(d) checkpoint save, ms'] / step_ms:.0f} training steps")
    from configs import synthetic_mlp

    for name, cfg in (("MNIST-1D MLP", config), ("synthetic MLP", synthetic_mlp.get_config())):
        runs = [group_speedups(cfg) for _ in range(args.rounds)]
        print(f"(e) {name}: per-trial speedup of K trials in one program: " + ", ".join(
            f"K={k} {statistics.median(r[k] for r in runs):.2f}x" for k in runs[0]))
    if not args.skip_study:
        studies(args.rounds, tmp)


def studies(rounds: int, tmp: str) -> None:
    """(b): MNIST-1D MLP study (8 trials of 2000 steps) and the tiny synthetic study
    (16 trials of 200 steps), alternating the settings in each round."""
    for study, budget in (("mnist1d_optimizers", 4), ("synthetic_optimizers", 8)):
        hours: dict[str, list[float]] = {}
        for r in range(max(1, rounds - 1)):
            for k in ("1", "2", "4", "auto"):
                hours.setdefault(k, []).append(study_trials_per_hour(
                    k, os.path.join(tmp, f"{study}_{k}_{r}"), study, budget))
        base = statistics.median(hours["1"])
        for k, v in hours.items():
            print(f"(b) {study}, trials_per_program={k:<5} {statistics.median(v):8.0f} "
                  f"trials/hour ({statistics.median(v) / base:.2f}x)  "
                  f"{json.dumps([round(x) for x in v])}")


if __name__ == "__main__":
    main()
