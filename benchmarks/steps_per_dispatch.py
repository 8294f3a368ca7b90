"""Training steps per second against `steps_per_dispatch` (steps fused into one
`lax.scan` dispatch), side by side, in one run.

    python benchmarks/steps_per_dispatch.py [--steps 2048] [--values 1,4,16,32,64]

For each baseline (the MNIST-1D MLP 40-256-256-10 at batch 128, the MNIST-1D
CNN, the tiny synthetic MLP) and each value, it times the training loop's own
compiled program and batch placement (`playbook.train.loop`), dispatching as
the loop does (at most two in flight), after one compiling dispatch; then the
whole `train_and_evaluate` (evaluations, checkpoints, metrics included) at 1,
at 32 and at the automatic default. Ratios are against one step per dispatch
(which runs the step without any loop).

Measured on the shared 2-core CPU development machine (jax 0.10.2, one CPU
device, other jobs running, so +-30% between runs), steps/s:

    steps_per_dispatch          1     4    16    32    64   trial@1 trial@32
    mnist1d MLP, program      385   723  1255  1223  1545       723     1571
    mnist1d CNN, program      293    44    46    45    46       197       27
    synthetic MLP, program   1896  5678  8766 25176 29466      1743    15030

Fusing steps doubles (MLP) to tenfold (tiny MLP) the rate, but XLA:CPU runs
the CNN's convolutions about 6-8x slower inside any loop (a scan of one step
too; unrolling recovers most but compiles slowly), so the automatic default
is 32, or 1 (no loop) on CPU when the model has a convolution.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import jax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import program_steps_per_second  # noqa: E402

from configs import mnist1d_cnn, mnist1d_mlp, synthetic_mlp  # noqa: E402
from playbook import config as config_lib  # noqa: E402
from playbook.train import loop  # noqa: E402


def trial_steps_per_second(config) -> float:
    with tempfile.TemporaryDirectory() as workdir:
        return loop.train_and_evaluate(config, workdir).throughput.steps_per_second


def configure(module, steps: int, k: int, **extra):
    config = config_lib.with_values(module.get_config(), dict(
        max_train_steps=steps, eval_every_steps=steps, log_every_steps=64, **extra))
    with config.unlocked():
        config.steps_per_dispatch = k
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2048)
    parser.add_argument("--values", default="1,4,16,32,64")
    args = parser.parse_args()
    values = [int(v) for v in args.values.split(",")]
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.default_backend()} device(s), "
          f"{os.cpu_count()} CPUs; {args.steps} steps (CNN: an eighth)")
    baselines = [("mnist1d mlp 40-256-256-10, B=128", mnist1d_mlp, args.steps),
                 ("mnist1d cnn1d, B=128", mnist1d_cnn, args.steps // 8),
                 ("synthetic mlp 8-32-32-4, B=32", synthetic_mlp, args.steps)]
    for name, module, steps in baselines:
        print(f"\n{name}: train program (steps/s, ratio to 1 step per dispatch)")
        base = None
        for k in values:
            rate = program_steps_per_second(loop.setup(configure(module, steps, k)), steps)
            base = base or rate
            print(f"  steps_per_dispatch={k:<3d} {rate:8.0f} steps/s  x{rate / base:.2f}")
        print(f"{name}: whole trial (train_and_evaluate throughput, steady state)")
        for k in (1, loop.DEFAULT_STEPS_PER_DISPATCH, 0):
            config = configure(module, steps, k)
            rate = trial_steps_per_second(config)
            label = f"{k}" if k else f"0 (auto: {loop.setup(config).steps_per_dispatch})"
            print(f"  steps_per_dispatch={label:<3s} {rate:8.0f} steps/s")


if __name__ == "__main__":
    main()
