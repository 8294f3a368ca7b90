"""Trials trained together in one vmapped program end as they would alone."""

import json
import os
import subprocess
import sys
from unittest import mock

import jax
import numpy as np
import pytest

from playbook import cli, trial_files
from playbook import config as config_lib
from playbook.errors import ConfigError
from playbook.study import runner
from playbook.study.store import StudyStore
from playbook.train import batched, group_size, loop

# Float rounding differs between a batched and a single matrix product; stable
# trials stay within this. (A trial at the edge of stability amplifies any such
# difference, as it would amplify a change of device count.)
RTOL = 1e-4


@pytest.fixture(scope="module")
def base():
    path = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic_mlp.py")
    return config_lib.load(path)


def _configs(base, learning_rates, seeds):
    return [config_lib.with_values(base, {"learning_rate": lr, "seed": s})
            for lr, s in zip(learning_rates, seeds)]


def _losses(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    return {r["step"]: r for r in map(json.loads, open(path))}


def _assert_same(grouped, alone, workdirs_g, workdirs_a):
    for g, a, wg, wa in zip(grouped, alone, workdirs_g, workdirs_a):
        assert (g.status, g.best_step, g.steps) == (a.status, a.best_step, a.steps)
        if g.status == "done":
            for key in a.best:
                assert g.best[key] == pytest.approx(a.best[key], rel=RTOL, abs=1e-6)
        mg, ma = _losses(wg), _losses(wa)
        assert sorted(mg) == sorted(ma)
        for step in ma:
            for key, value in ma[step].items():
                if key.endswith("examples_per_second") or value is None:
                    continue
                assert mg[step][key] == pytest.approx(value, rel=RTOL, abs=1e-6), (wg, step, key)


@pytest.mark.parametrize("seeds", [(0, 0, 0), (0, 1, 2)], ids=["shared_data", "own_data"])
def test_a_group_equals_its_trials_run_alone_and_a_diverged_member_stops_alone(
        base, tmp_path, seeds):
    configs = _configs(base, [0.01, 100.0, 0.03], seeds)  # the middle one diverges
    wg = [str(tmp_path / f"g{i}") for i in range(3)]
    wa = [str(tmp_path / f"a{i}") for i in range(3)]
    grouped = batched.train_group(configs, wg)
    alone = [loop.train_and_evaluate(c, w) for c, w in zip(configs, wa)]
    assert [r.status for r in grouped] == ["done", "diverged", "done"]
    assert grouped[1].steps < base.max_train_steps
    _assert_same(grouped, alone, wg, wa)
    assert [r.trials_per_program for r in alone] == [1, 1, 1]
    for w in wg:  # each member has its own files, as if alone
        assert trial_files.read_result(w).trials_per_program == 3
        assert json.load(open(os.path.join(w, "config.json")))["learning_rate"] in (0.01, 100.0,
                                                                                    0.03)
    assert os.listdir(os.path.join(wg[0], "checkpoints"))
    # The best checkpoint of a member holds that member's parameters.
    _, metrics = loop.evaluate_checkpoint(configs[2], wg[2])
    assert metrics["valid/loss"] == pytest.approx(grouped[2].best["valid/loss"], rel=1e-5)


def test_an_interrupted_group_resumes_together_from_its_checkpoints(base, tmp_path):
    # A checkpoint at every evaluation (checkpoint_policy), so that one exists at 100.
    every = config_lib.with_values(base, {"checkpoint.save_latest_every_seconds": 0})
    configs = _configs(every, [0.01, 0.03, 0.1], (0, 0, 0))
    whole = [str(tmp_path / f"whole{i}") for i in range(3)]
    cut = [str(tmp_path / f"cut{i}") for i in range(3)]
    expected = batched.train_group(configs, whole)

    real_read = batched.GroupDriver.read

    def read_then_stop(self, step, *args):
        real_read(self, step, *args)
        if step == 100:
            raise KeyboardInterrupt  # like a preemption: not handled, nothing finished
    with mock.patch.object(batched.GroupDriver, "read", read_then_stop):
        with pytest.raises(KeyboardInterrupt):
            batched.train_group(configs, cut)
    assert all(trial_files.read_result(w) is None for w in cut)
    calls = []
    real_run = batched.GroupDriver.run

    def record(self, state, step):
        calls.append(step)
        return real_run(self, state, step)
    with mock.patch.object(batched.GroupDriver, "run", record):
        resumed = batched.train_group(configs, cut)
    assert calls == [100]  # one group, resumed at the last evaluation
    _assert_same(resumed, expected, cut, whole)


def test_a_lone_unfinished_member_or_a_failing_group_trains_alone(base, tmp_path):
    configs = _configs(base, [0.01, 0.03], (0, 0))
    workdirs = [str(tmp_path / "m0"), str(tmp_path / "m1")]
    loop.train_and_evaluate(configs[0], workdirs[0])  # one member already done
    with mock.patch.object(batched.GroupDriver, "run", side_effect=AssertionError("never")) as group:
        results = batched.train_group(configs, workdirs)  # one left: no group at all
    assert not group.called
    assert [r.status for r in results] == ["done", "done"]

    workdirs = [str(tmp_path / "f0"), str(tmp_path / "f1")]
    with mock.patch.object(batched.GroupDriver, "run", side_effect=RuntimeError("device lost")) as run:
        results = batched.train_group(configs, workdirs)
    assert run.call_count == 1  # the group was tried once and failed
    assert [r.status for r in results] == ["done", "done"]  # then alone, from their checkpoints
    assert [r.steps for r in results] == [base.max_train_steps] * 2


def test_group_key_separates_structures_and_ignores_scalars(base):
    key = batched.group_key(base)
    assert key == batched.group_key(config_lib.with_values(
        base, {"learning_rate": 0.5, "weight_decay": 1e-3, "seed": 7, "momentum": 0.5}))
    assert key != batched.group_key(config_lib.with_values(base, {"model.width": 64}))
    assert key != batched.group_key(config_lib.with_values(base, {"optimizer": "nesterov"}))
    assert key != batched.group_key(config_lib.with_values(base, {"grad_clip_norm": 1.0}))
    assert batched.group_key(config_lib.with_values(base, {"grad_clip_norm": 1.0})) == \
        batched.group_key(config_lib.with_values(base, {"grad_clip_norm": 2.0}))
    assert batched.group_key(config_lib.to_dict(base)) == key


def test_auto_on_cpu_times_the_group_sizes_once_per_structure(base):
    group_size._AUTO.clear()
    # The tiny synthetic trial trains in a fraction of a second: never worth a group.
    with mock.patch.object(group_size, "group_rates", side_effect=AssertionError("not timed")):
        assert group_size.auto_group_size(base) == 1
    group_size._AUTO.clear()
    base = config_lib.with_values(base, {"max_train_steps": 10 ** 8})  # a long trial
    calls = []

    def rates(trial, sizes, seconds):
        calls.append(tuple(sizes))
        return {1: 100.0, 4: 180.0}
    with mock.patch.object(group_size, "group_rates", rates), \
            mock.patch.object(group_size, "cpu_utilisation", lambda trial, rate: 0.05):
        assert group_size.auto_group_size(base) == 4
        assert group_size.auto_group_size(config_lib.with_values(base, {"learning_rate": 0.5})) == 4
    assert calls == [(1, 4)]  # the second trial of the structure reuses the decision
    group_size._AUTO.clear()
    with mock.patch.object(group_size, "group_rates", lambda *a: {1: 100.0, 4: 115.0}), \
            mock.patch.object(group_size, "cpu_utilisation", lambda trial, rate: 0.05):
        assert group_size.auto_group_size(base) == 1  # less than AUTO_MIN_GAIN: one at a time
    group_size._AUTO.clear()
    with mock.patch.object(group_size, "group_rates", side_effect=AssertionError("not timed")), \
            mock.patch.object(group_size, "cpu_utilisation", lambda trial, rate: 0.6):
        assert group_size.auto_group_size(base) == 1  # compute-bound: no group is timed
    group_size._AUTO.clear()
    # The tiny synthetic MLP uses a small fraction of the CPU's FLOP/s; the MNIST-1D
    # MLP (40-256-256-10 at batch 128) a large one.
    mnist1d_mlp = os.path.join(os.path.dirname(__file__), "..", "configs", "mnist1d_mlp.py")
    tiny = group_size.cpu_utilisation(loop.setup(base))
    mlp = group_size.cpu_utilisation(loop.setup(config_lib.load(mnist1d_mlp)))
    assert 0 < tiny < mlp and tiny < group_size.AUTO_CPU_BUSY
    # Unmocked: real timings of the tiny synthetic MLP, each a per-trial rate.
    rates = group_size.group_rates(loop.setup(base), (1, 2), seconds=0.05)
    assert set(rates) == {1, 2} and all(r > 0 for r in rates.values())


def test_trials_per_program_must_be_positive_or_auto():
    assert group_size.parse_trials_per_program("auto") == "auto"
    assert group_size.parse_trials_per_program("4") == 4
    for bad in ("0", "-2", "many", "1.5"):
        with pytest.raises(ConfigError, match="positive integer or 'auto'"):
            group_size.parse_trials_per_program(bad)


STUDY = """
from playbook import search as hp
from playbook.study import define

def get_config():
    return define(
        baseline={baseline!r},
        scientific={{"optimizer": ["nesterov", "adamw"]}},
        nuisance={{"learning_rate": hp.branches("optimizer", {{
            "nesterov": hp.log(1e-2, 0.1), "adamw": hp.log(1e-3, 1e-2)}})}},
        fixed={{"max_train_steps": 100, "eval_every_steps": 50, "log_every_steps": 25}},
        budget=3)
"""


@pytest.mark.slow
def test_a_study_with_trials_per_program_equals_the_sequential_study(root, tmp_path, capsys):
    config = tmp_path / "study.py"
    config.write_text(STUDY.format(baseline=str(root / "configs/synthetic_mlp.py")))
    dirs = {}
    for k in ("1", "3"):
        dirs[k] = str(tmp_path / f"k{k}")
        assert cli.main(["study", "--config", str(config), "--workdir", dirs[k], "--no_progress",
                         "--no_report", f"--trials_per_program={k}"]) == 0
    out = capsys.readouterr().out
    assert out.count("time to first step over 6 trials: median ") == 2
    from playbook.analysis import load_study
    for d in dirs.values():
        table = load_study(d)
        assert (table["first_step_seconds"] > 0).all() and (table["steps_per_second"] > 0).all()
    stores = {k: StudyStore(d) for k, d in dirs.items()}
    sequential = {r.trial_id: r for r in stores["1"].trials("valid/error_rate")}
    grouped = {r.trial_id: r for r in stores["3"].trials("valid/error_rate")}
    assert sorted(grouped) == sorted(sequential) and len(grouped) == 6
    for trial_id, record in sequential.items():
        assert grouped[trial_id].status == record.status == "done"
        assert grouped[trial_id].objective == pytest.approx(record.objective, abs=1e-6)
        assert stores["3"].attempts(trial_id) == 1
        # The K=3 study trained its trials three to a program, the sequential one alone.
        assert [trial_files.read_result(stores[k].trial_dir(trial_id)).trials_per_program
                for k in ("1", "3")] == [1, 3]
    # Trials of one optimizer share a program; the two optimizers do not.
    units = runner.make_units(stores["3"], sorted(grouped), 3, slots=1)
    assert [u.trial_ids for u in units] == [("0000", "0002", "0004"), ("0001", "0003", "0005")]
    # Spread over two workers, a group is split so that both get work.
    units = runner.make_units(stores["3"], sorted(grouped), 8, slots=2)
    assert [len(u.trial_ids) for u in units] == [2, 1, 2, 1]
    assert cli.main(["study", "--config", str(config), "--workdir", str(tmp_path / "bad"),
                     "--trials_per_program=0"]) == 2
    assert "positive integer or 'auto'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad" / "trials")


def test_the_compilation_cache_serves_a_new_process(tmp_path):
    """A program compiled in one process is loaded, not compiled, in the next."""
    cache = tmp_path / "cache"
    code = (
        "import jax, jax.numpy as jnp\n"
        "from playbook.train import loop\n"
        "events = []\n"
        "jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))\n"
        f"loop.use_compilation_cache({str(cache)!r})\n"
        "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)\n"
        "f = jax.jit(lambda x: jnp.linalg.qr(x @ x.T + jnp.sin(x).sum())[0])\n"
        "f(jnp.ones((64, 64))).block_until_ready()\n"
        "print('HIT' if '/jax/compilation_cache/cache_hits' in events else 'MISS')\n")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    runs = [subprocess.run([sys.executable, "-c", code], check=True, env=env,
                           capture_output=True, text=True).stdout.split() for _ in range(2)]
    assert [r[-1] for r in runs] == ["MISS", "HIT"]
    assert os.listdir(cache)


@pytest.mark.slow  # compiling a ResNet's convolutions on XLA:CPU: about 25 s
def test_a_group_of_batch_norm_trials_equals_them_alone(tmp_path):
    """Batch statistics are per member: trained, evaluated and checkpointed as alone."""
    from test_workloads_scale import ROOT, TINY, TINY_TRAINING

    path, overrides = TINY["cifar10"]
    base = config_lib.load(str(ROOT / "configs" / path), [*TINY_TRAINING, *overrides])
    configs = [config_lib.with_values(base, {"learning_rate": lr, "max_train_steps": 10,
                                             "eval_every_steps": 5, "log_every_steps": 5})
               for lr in (0.05, 0.1)]
    wg = [str(tmp_path / f"g{i}") for i in range(2)]
    wa = [str(tmp_path / f"a{i}") for i in range(2)]
    grouped = batched.train_group(configs, wg)
    alone = [loop.train_and_evaluate(c, w) for c, w in zip(configs, wa)]
    assert [r.status for r in grouped] == ["done", "done"]
    assert grouped[0].best != grouped[1].best
    _assert_same(grouped, alone, wg, wa)
    _, state = loop.restore(configs[1], wg[1], "latest")
    _, alone_state = loop.restore(configs[1], wa[1], "latest")
    stats = jax.tree.leaves(state.model_state)
    assert stats and all(np.allclose(s, a, rtol=1e-3, atol=1e-5) for s, a in
                         zip(stats, jax.tree.leaves(alone_state.model_state)))
