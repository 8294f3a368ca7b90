"""Training throughput (examples/s) and model FLOPs utilization (MFU) per workload,
playbook's training program against a plain hand-written Flax/optax loop on the
same model, batch and data, side by side in one run.

    python benchmarks/throughput.py [--steps 16] [--workloads cifar10,imagenet,vit,lm]

For each workload (synthetic data, sizes chosen for a CPU: see SIZES), both
sides train from the same dataset object with the same examples per step:
  playbook: the loop's compiled train program (`loop.programs`) fed by the
    loop's own batch placement, dispatched as the loop does (at most two in
    flight, `steps_per_dispatch` steps fused by `lax.scan` where automatic);
  plain: `jax.jit` of a textbook step (value_and_grad, batch_stats as a
    mutable collection, optax update), one step per dispatch, batches read with
    numpy indexing and `jax.device_put`.
Each side compiles with one untimed dispatch, then runs `--steps` steps
(benchmarks/common.py `side_by_side`, timed by `playbook.train.timing`).
MFU = (XLA's FLOP count of one plain train step, from `cost_analysis`) x
steps/s / peak FLOP/s, where peak is measured here: float32 matmuls of
2048x2048 on all cores (`timing.matmul_flops`: the CPU's practical peak, not
its datasheet number).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import side_by_side  # noqa: E402

from playbook import config as config_lib  # noqa: E402
from playbook.train import timing  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
COMMON = ["--config.data.source=synthetic", "--config.data.num_train=512",
          "--config.data.num_valid=64", "--config.data.num_test=64",
          "--config.warmup_steps=0", "--config.model.dtype=float32"]
# name: (config file, overrides, description)
SIZES = {
    "cifar10": ("cifar10_resnet20.py", ["--config.batch_size=32"],
                "ResNet-20 (full size), 32x32, B=32"),
    "imagenet": ("imagenet_resnet50.py", ["--config.batch_size=8", "--config.eval_batch_size=0",
                                          "--config.data.image_size=64",
                                          "--config.data.num_classes=100"],
                 "ResNet-50 (full width), 64x64, 100 classes, B=8"),
    "vit": ("imagenet_vit_s16.py", ["--config.batch_size=16", "--config.eval_batch_size=0",
                                    "--config.data.image_size=64", "--config.model.depth=6",
                                    "--config.data.num_classes=100"],
            "ViT-S/16 width, 6 layers, 64x64 (16 patches), 100 classes, B=16"),
    "lm": ("lm1b_transformer.py", ["--config.batch_size=16", "--config.model.width=256",
                                   "--config.model.depth=2", "--config.model.num_heads=4",
                                   "--config.model.mlp_dim=1024", "--config.data.seq_len=64",
                                   "--config.model.max_len=64", "--config.data.vocab_size=256"],
           "Transformer LM 256 wide, 2 layers, 64 tokens, B=16"),
}


def configure(name: str, steps: int):
    path, overrides, _ = SIZES[name]
    return config_lib.load(os.path.join(ROOT, "configs", path), [
        *COMMON, *overrides, f"--config.max_train_steps={steps}",
        f"--config.eval_every_steps={steps}", f"--config.log_every_steps={steps}"])


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--workloads", default=",".join(SIZES))
    args = parser.parse_args()
    peak = timing.matmul_flops(2048, jnp.float32, repeats=10)
    device = jax.devices()[0]
    print(f"jax {jax.__version__}; {jax.device_count()} x {device.platform} "
          f"({cpu_name() if device.platform == 'cpu' else device.device_kind}), "
          f"{os.cpu_count()} CPUs; measured peak {peak / 1e9:.1f} GFLOP/s; {args.steps} steps")
    print(f"{'workload':<10s} {'playbook ex/s':>14s} {'plain ex/s':>11s} {'ratio':>6s} "
          f"{'GFLOP/step':>10s} {'MFU playbook':>12s} {'MFU plain':>9s}  model")
    for name in args.workloads.split(","):
        r = side_by_side(configure(name, args.steps), args.steps, peak)
        print(f"{name:<10s} {r.playbook:14.1f} {r.plain:11.1f} {r.ratio:6.2f} "
              f"{r.flops / 1e9:10.2f} {r.mfu(r.playbook):12.1%} {r.mfu(r.plain):9.1%}  "
              f"{SIZES[name][2]}", flush=True)


if __name__ == "__main__":
    main()
