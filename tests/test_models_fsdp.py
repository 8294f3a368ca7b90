"""Fully sharded data parallelism (`param_sharding='fsdp'`): on 4 (fake CPU)
devices, parameters and optimizer state are split over the mesh, checkpoints
restore them split, and training matches replicated parameters up to float32
reduction order. Runs in a subprocess, since XLA fixes the CPU device count
when JAX starts."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.errors import ConfigError
from playbook.train import loop

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD = r"""
import json, sys
import jax, numpy as np
from configs import synthetic_mlp
from playbook import config as config_lib
from playbook.train import loop
from playbook.trial_files import read_metrics

out = {"devices": jax.device_count()}
for mode in ("replicated", "fsdp"):
    config = config_lib.with_values(synthetic_mlp.get_config(), {
        "model.width": 128, "max_train_steps": 40, "eval_every_steps": 20,
        "log_every_steps": 10, "optimizer": "adamw"})
    with config.unlocked():
        config.param_sharding = mode
    workdir = f"{sys.argv[1]}/{mode}"
    res = loop.train_and_evaluate(config, workdir)
    _, state = loop.restore(config, workdir, "latest")
    kernel = state.params["Dense_1"]["kernel"]
    mu = state.opt_state.inner_state[0].mu["Dense_1"]["kernel"]
    out[mode] = {"status": res.status, "final": res.final,
                 "kernel_spec": list(kernel.sharding.spec), "mu_spec": list(mu.sharding.spec),
                 "kernel_shard": list(kernel.addressable_shards[0].data.shape),
                 "bias_spec": list(state.params["Dense_1"]["bias"].sharding.spec),
                 "kernel": np.asarray(kernel).tolist(),
                 "losses": [r["train/loss"] for r in read_metrics(f"{workdir}/metrics.jsonl")]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path_factory.mktemp("fsdp"))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_fsdp_splits_large_parameters_and_their_optimizer_state_over_the_devices(runs):
    fsdp = runs["fsdp"]
    assert runs["devices"] == 4 and fsdp["status"] == "done"
    # Dense_1 is 128 x 128: the last of the two equal axes is split in 4.
    assert fsdp["kernel_spec"] == fsdp["mu_spec"] == [None, "data"]
    assert fsdp["kernel_shard"] == [128, 32]
    assert fsdp["bias_spec"] == []  # 128 values: too small to split
    assert runs["replicated"]["kernel_spec"] == []


def test_fsdp_trains_the_same_model_as_replicated_parameters(runs):
    fsdp, rep = runs["fsdp"], runs["replicated"]
    np.testing.assert_allclose(fsdp["losses"], rep["losses"], rtol=1e-4)
    np.testing.assert_allclose(fsdp["kernel"], rep["kernel"], rtol=1e-4, atol=1e-5)
    for key, value in rep["final"].items():
        assert fsdp["final"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_unknown_param_sharding_is_a_config_error():
    config = synthetic_mlp.get_config()
    with config.unlocked():
        config.param_sharding = "zero3"
    with pytest.raises(ConfigError, match="valid: replicated, fsdp"):
        loop.setup(config_lib.with_values(config, {}))
