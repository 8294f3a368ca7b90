"""Two checkouts of playbook side by side in one run, alternating: the training
step rate and whole-study trials/hour, before and after a change.

    python benchmarks/refactor_check.py --before /path/to/old/checkout [--after .]
        [--rounds 3] [--budget 4] [--eval_every 100] [--steps 2000] [--seconds 1]

Each measurement is a new process that imports playbook from its checkout
(working directory and PYTHONPATH), through commands whose interface outlives
refactors of the code behind them:

(a) step rate: `playbook batch-sizes --config configs/mnist1d_mlp.py --start B
    --max_batch_size B --seconds S` at the baseline's batch size B: the loop's
    own compiled program on fresh batches, at most two dispatches in flight,
    the fastest of three rounds of S seconds (`fed`), and the same program
    replaying one batch already on the device (`compute`); steps/s = examples/s / B;
(b) trials/hour: `playbook study --config benchmarks/study_mnist1d_halton.py:
    EVAL,BUDGET,STEPS --compilation_cache none --no_progress --no_report` (the
    MNIST-1D MLP, Nesterov and AdamW, BUDGET Halton trials each), wall time of
    the whole process; each checkout runs its own copy of the study file.

Rounds alternate which checkout goes first. Prints every round's values, the
medians and the ratio after / before per round, and whether the two studies
printed the same best trials (they train the same trials with the same seeds).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from study_vs_optuna import timed  # noqa: E402

BASELINE = "configs/mnist1d_mlp.py"
BATCH = 128  # configs/mnist1d_mlp.py's batch size


def step_rates(checkout: str, seconds: float) -> tuple[float, float]:
    """(fed, compute-only) steps/s of the MNIST-1D MLP's program, from `checkout`."""
    _, _, out = timed([sys.executable, "-m", "playbook", "batch-sizes", "--config",
                       os.path.join(checkout, BASELINE), "--start", str(BATCH),
                       "--max_batch_size", str(BATCH), "--seconds", str(seconds)], checkout)
    row = re.search(rf"^\s*{BATCH}\s+([0-9,.]+)\s+([0-9,.]+)", out, re.M)
    if row is None:
        raise SystemExit(f"no row for batch size {BATCH} in the output of {checkout}:\n{out}")
    fed, compute = (float(x.replace(",", "")) for x in row.groups())
    return fed / BATCH, compute / BATCH


def study(checkout: str, args: argparse.Namespace, workdir: str) -> tuple[float, str]:
    """(trials/hour, the best-trials table it printed) of the study, from `checkout`."""
    study_file = os.path.join(checkout, "benchmarks", "study_mnist1d_halton.py")
    if not os.path.exists(study_file):
        study_file = os.path.join(HERE, "study_mnist1d_halton.py")
    wall, _, out = timed([
        sys.executable, "-m", "playbook", "study", "--config",
        f"{study_file}:{args.eval_every},{args.budget},{args.steps}", "--workdir", workdir,
        "--compilation_cache", "none", "--no_progress", "--no_report"], checkout)
    trials = len(os.listdir(os.path.join(workdir, "trials")))
    best = "\n".join(line for line in out.splitlines()
                     if "time to first step" not in line and workdir not in line)
    return trials * 3600 / wall, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the checkout before the change")
    parser.add_argument("--after", default=os.path.dirname(HERE),
                        help="the checkout after the change (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=4, help="trials per optimizer")
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000, help="steps per trial")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="seconds per timed round of the step rate")
    args = parser.parse_args()
    sides = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    tmp = tempfile.mkdtemp(prefix="refactor_check_")
    print(f"before: {sides['before']}\nafter: {sides['after']}\n{os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; study of {2 * args.budget} trials x "
          f"{args.steps} steps, evaluation every {args.eval_every}", flush=True)
    values: dict[str, dict[str, list[float]]] = {
        m: {s: [] for s in sides} for m in ("fed steps/s", "compute steps/s", "trials/hour")}
    tables: dict[str, str] = {}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for side in order:
            fed, compute = step_rates(sides[side], args.seconds)
            values["fed steps/s"][side].append(fed)
            values["compute steps/s"][side].append(compute)
            print(f"  round {r + 1} {side:<6} (a) {fed:8.0f} fed steps/s {compute:8.0f} "
                  f"compute steps/s", flush=True)
        for side in order:
            rate, tables[side] = study(sides[side], args, os.path.join(tmp, f"{side}_{r}"))
            values["trials/hour"][side].append(rate)
            print(f"  round {r + 1} {side:<6} (b) {rate:8.0f} trials/hour", flush=True)
    for name, per_side in values.items():
        before, after = per_side["before"], per_side["after"]
        ratios = [a / b for a, b in zip(after, before)]
        print(f"{name:<16} before {statistics.median(before):8.0f}  after "
              f"{statistics.median(after):8.0f}  ratio after/before "
              f"{statistics.median(ratios):.2f} (per round "
              f"{', '.join(f'{x:.2f}' for x in ratios)})")
    same = tables["before"] == tables["after"]
    print(f"best trials printed by the two studies: {'the same' if same else 'DIFFERENT'}")
    if not same:
        for side in sides:
            print(f"--- {side}\n{tables[side]}")


if __name__ == "__main__":
    main()
