"""Data parallelism: the same trial on 1 and on 8 (fake CPU) devices, and on two
processes of 4 devices each, trains the same model up to float32 reduction
order, and a batch that does not split over the devices is a ConfigError. Each
device count runs in its own subprocesses, since XLA fixes the CPU device count
when JAX starts."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Trains in the given workdir, then saves the latest checkpoint's params and a summary.
CHILD = r"""
import json, sys
import jax, numpy as np
from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.errors import ConfigError
from playbook.train import loop
from playbook.trial_files import read_metrics

# Dropout and a padded last validation batch (250 = 7 * 32 + 26) are part of the check;
# so are both kinds of dispatch: 10 steps fused in a scan, and one step without a loop.
config = config_lib.with_values(synthetic_mlp.get_config(), {
    "model.dropout": 0.1, "data.num_valid": 250, "max_train_steps": 100,
    "eval_every_steps": 50, "log_every_steps": 10})
out = {"devices": jax.device_count()}
for name, steps_per_dispatch in (("fused", 10), ("single", 1)):
    with config.unlocked():
        config.steps_per_dispatch = steps_per_dispatch
    workdir = f"{sys.argv[1]}/{name}"
    res = loop.train_and_evaluate(config, workdir)
    step, state = loop.restore(config, workdir, "latest")
    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(state.params))[0]
    np.savez(f"{workdir}/params.npz", **{jax.tree_util.keystr(k): v for k, v in leaves})
    out[name] = {"status": res.status, "step": step, "best_step": res.best_step,
                 "final": res.final, "params": f"{workdir}/params.npz",
                 "losses": [r["train/loss"] for r in read_metrics(f"{workdir}/metrics.jsonl")]}
try:
    loop.setup(config_lib.with_values(config, {"batch_size": 30}))
    out["error_for_batch_30"] = None
except ConfigError as e:
    out["error_for_batch_30"] = str(e)
print(json.dumps(out))
"""


def train_on(devices: int, workdir) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(workdir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("fused", "single"):
        out[name]["params"] = dict(np.load(out[name]["params"]))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {n: train_on(n, tmp_path_factory.mktemp(f"devices{n}")) for n in (1, 8)}


@pytest.mark.slow
@pytest.mark.parametrize("dispatch", ["fused", "single"])
def test_one_and_eight_devices_train_the_same_model(runs, dispatch):
    assert (runs[1]["devices"], runs[8]["devices"]) == (1, 8)
    one, eight = runs[1][dispatch], runs[8][dispatch]
    assert one["status"] == eight["status"] == "done"
    assert one["step"] == eight["step"] == 100
    # Only the order of float32 reductions differs (measured: 1e-7): 1e-4 relative on
    # every logged loss, and on the final parameters.
    np.testing.assert_allclose(eight["losses"], one["losses"], rtol=1e-4)
    assert one["params"].keys() == eight["params"].keys()
    for name in one["params"]:
        np.testing.assert_allclose(eight["params"][name], one["params"][name],
                                   rtol=1e-4, atol=1e-5, err_msg=name)
    assert eight["best_step"] == one["best_step"]
    for key, value in one["final"].items():
        assert eight["final"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_a_batch_that_does_not_split_over_the_devices_is_a_config_error(runs):
    assert runs[1]["error_for_batch_30"] is None
    assert "batch_size=30 does not divide evenly over 8 devices" in runs[8]["error_for_batch_30"]


# Two processes, as on two hosts: each initializes jax.distributed and runs the trial.
HOST = r"""
import json, sys
import jax
jax.distributed.initialize(sys.argv[2], num_processes=2, process_id=int(sys.argv[3]))
from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.train import loop
config = config_lib.with_values(synthetic_mlp.get_config(), {
    "model.dropout": 0.1, "data.num_valid": 250, "max_train_steps": 100,
    "eval_every_steps": 50, "log_every_steps": 10})  # 10 steps per dispatch, as "fused"
res = loop.train_and_evaluate(config, sys.argv[1])
print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                  "status": res.status, "final": res.final}))
"""


@pytest.mark.slow
def test_two_processes_train_the_same_model_as_one_device(runs, tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        address = f"localhost:{s.getsockname()[1]}"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    hosts = [subprocess.Popen([sys.executable, "-c", HOST, str(tmp_path), address, str(i)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    outputs = [host.communicate(timeout=240) for host in hosts]
    for host, (_, err) in zip(hosts, outputs, strict=True):
        assert host.returncode == 0, err[-3000:]
    one = runs[1]["fused"]
    for out, _ in outputs:
        got = json.loads(out.strip().splitlines()[-1])
        assert (got["processes"], got["devices"], got["status"]) == (2, 8, "done")
        for key, value in one["final"].items():
            assert got["final"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert (tmp_path / "result.json").exists()  # written by process 0
