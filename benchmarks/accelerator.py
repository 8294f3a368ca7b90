"""The accelerator check: what the first GPU or TPU lent to the project should measure,
in at most 8 minutes on one device.

    python benchmarks/accelerator.py           # on the accelerator
    python benchmarks/accelerator.py --tiny    # on a CPU, under 3 minutes (CI runs it)

Prints one line per measurement:
- `throughput resnet50` and `throughput vit_s16`: examples/s of playbook's compiled
  training program and of a plain `jax.jit` Flax/optax step on the same model, batch
  and synthetic data (benchmarks/throughput.py), bfloat16, their ratio, and MFU
  against a measured bfloat16 matmul peak of the device (`peak` line);
- `study k=1` and `study k=auto`: trials/hour of the MNIST-1D study of
  benchmarks/study_mnist1d_halton.py run by `playbook study --trials_per_program`
  1 and `auto` in new processes, and `auto chose`: the trials per program that
  `auto` used (from the trials' result.json).

Full size: ResNet-50 and ViT-S/16 at 224x224, batch 256, 20 timed steps; the
study 8 trials per optimizer of 2000 steps. `--tiny`: narrow models at 32x32,
batch 4, 2 steps, and 1 trial per optimizer of 200 steps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from common import side_by_side  # noqa: E402

from playbook import config as config_lib  # noqa: E402
from playbook import trial_files  # noqa: E402
from playbook.train import timing  # noqa: E402

SYNTHETIC = ["--config.data.source=synthetic", "--config.data.num_valid=64",
             "--config.data.num_test=64", "--config.warmup_steps=0",
             "--config.model.dtype=bfloat16", "--config.eval_batch_size=0"]
# name: (config file, full-size overrides, tiny overrides)
MODELS = {
    "resnet50": ("imagenet_resnet50.py",
                 ["--config.batch_size=256", "--config.data.image_size=224",
                  "--config.data.num_train=512"],
                 ["--config.batch_size=4", "--config.data.image_size=32",
                  "--config.data.num_train=64", "--config.model.width=8"]),
    "vit_s16": ("imagenet_vit_s16.py",
                ["--config.batch_size=256", "--config.data.image_size=224",
                 "--config.data.num_train=512"],
                ["--config.batch_size=4", "--config.data.image_size=32",
                 "--config.data.num_train=64", "--config.model.depth=1",
                 "--config.model.width=64", "--config.model.num_heads=2",
                 "--config.model.mlp_dim=128", "--config.data.num_classes=10"]),
}


def peak_flops(tiny: bool) -> float:
    """FLOP/s of a large bfloat16 matrix product on the first device."""
    size, repeats = (512, 5) if tiny else (8192, 20)
    return timing.matmul_flops(size, jnp.bfloat16, repeats)


def throughput(name: str, tiny: bool, peak: float) -> str:
    path, full, small = MODELS[name]
    steps = 2 if tiny else 20
    config = config_lib.load(os.path.join(ROOT, "configs", path), [
        *SYNTHETIC, *(small if tiny else full), f"--config.max_train_steps={steps}",
        f"--config.eval_every_steps={steps}", f"--config.log_every_steps={steps}"])
    r = side_by_side(config, steps, peak)
    return (f"throughput {name}: playbook {r.playbook:.1f} ex/s, plain {r.plain:.1f} ex/s, "
            f"ratio {r.ratio:.2f}, MFU playbook {r.mfu(r.playbook):.2%}, "
            f"plain {r.mfu(r.plain):.2%} ({r.flops / 1e9:.2f} GFLOP/step, "
            f"batch {r.batch_size})")


def study(k: str, tiny: bool, workdir: str) -> tuple[float, list[int]]:
    """(trials/hour, trials per program used) of the MNIST-1D study in a new process."""
    arg = "100,1,200" if tiny else "100,8,2000"
    command = [sys.executable, "-m", "playbook", "study", "--config",
               os.path.join(HERE, f"study_mnist1d_halton.py:{arg}"), "--workdir", workdir,
               "--compilation_cache", "none", "--no_progress", "--no_report",
               "--trials_per_program", k]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    trials = os.path.join(workdir, "trials")
    used = []
    for trial in sorted(os.listdir(trials)):
        used.append(trial_files.read_result(os.path.join(trials, trial)).trials_per_program)
    return len(used) * 3600 / seconds, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, for a CPU (CI)")
    args = parser.parse_args()
    device = jax.devices()[0]
    print(f"device: {jax.device_count()} x {device.platform} ({device.device_kind}), "
          f"jax {jax.__version__}{', tiny sizes' if args.tiny else ''}", flush=True)
    peak = peak_flops(args.tiny)
    print(f"peak: {peak / 1e12:.3f} TFLOP/s (bfloat16 matmul, measured)", flush=True)
    for name in MODELS:
        print(throughput(name, args.tiny, peak), flush=True)
    tmp = tempfile.mkdtemp(prefix="accelerator_")
    used = {}
    for k in ("1", "auto"):
        rate, used[k] = study(k, args.tiny, os.path.join(tmp, f"study_{k}"))
        print(f"study k={k}: {rate:.0f} trials/hour ({len(used[k])} MNIST-1D trials)",
              flush=True)
    print(f"auto chose: {max(used['auto'])} trials per program", flush=True)


if __name__ == "__main__":
    main()
