"""Specifications of the cifar10, imagenet and lm workloads in synthetic mode:
examples are read on demand as a function of (seed, step), each process reads
only its indices, every workload trains through `playbook train` at tiny sizes,
and batch statistics are checkpointed with the rest of the state."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import workloads
from playbook.data import images
from playbook.data.records import RecordSplit, carve
from playbook.errors import ConfigError
from playbook.train import loop, main, sharding
from playbook.train import metrics as metrics_lib
from playbook.trial_files import read_metrics
from playbook.workloads.base import Split
from playbook.workloads.lm import LanguageModel, byte_tokens

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_TRAINING = ["--config.batch_size=16", "--config.max_train_steps=30",
                 "--config.eval_every_steps=15", "--config.log_every_steps=5",
                 "--config.warmup_steps=0", "--config.data.source=synthetic",
                 "--config.data.num_train=256", "--config.data.num_valid=64",
                 "--config.data.num_test=32", "--config.data.num_workers=1"]
TINY = {
    "cifar10": ("cifar10_resnet20.py", [
        "--config.model.depth=8", "--config.model.width=4", "--config.model.virtual_batch_size=8",
        "--config.data.image_size=8", "--config.data.num_classes=4", "--config.data.noise=0.5",
        "--config.learning_rate=0.1"]),
    "imagenet_vit": ("imagenet_vit_s16.py", [
        "--config.model.patch_size=4", "--config.model.width=16", "--config.model.depth=1",
        "--config.model.num_heads=2", "--config.model.mlp_dim=32", "--config.model.dtype=float32",
        "--config.data.image_size=8", "--config.data.num_classes=4",
        "--config.learning_rate=0.003", "--config.eval_batch_size=0"]),
    "lm": ("lm1b_transformer.py", [
        "--config.model.width=32", "--config.model.depth=1", "--config.model.num_heads=2",
        "--config.model.mlp_dim=64", "--config.model.max_len=16", "--config.data.seq_len=16",
        "--config.data.vocab_size=16", "--config.learning_rate=0.01",
        "--config.model.dtype=bfloat16"]),
    "imagenet_resnet": ("imagenet_resnet50.py", [
        "--config.model.depth=10", "--config.model.width=4", "--config.data.image_size=16",
        "--config.data.num_classes=4", "--config.learning_rate=0.05",
        "--config.eval_batch_size=0", "--config.model.dtype=float32"]),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Trains a tiny trial per workload once; (config, workdir, exit status) by name."""
    runs = {}

    def run(name):
        if name not in runs:
            path, overrides = TINY[name]
            workdir = tmp_path_factory.mktemp(name)
            args = [str(ROOT / "configs" / path), [*TINY_TRAINING, *overrides]]
            status = main.run(args[0], args[1], str(workdir))
            runs[name] = (config_lib.load(*args), workdir, status)
        return runs[name]

    return run


@pytest.mark.parametrize("name", [
    "cifar10", "imagenet_vit", "lm",
    pytest.param("imagenet_resnet", marks=pytest.mark.slow)])
@pytest.mark.slow
def test_workload_trains_on_synthetic_data_through_the_train_command(name, trained):
    config, workdir, status = trained(name)
    records = read_metrics(workdir / "metrics.jsonl")
    losses = [r["train/loss"] for r in records]

    assert status == 0
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2])
    final = records[-1]
    if name == "lm":  # 16 tokens; the chain follows its successor with probability 0.8
        assert final["valid/loss"] < np.log(15) - 0.5 and final["valid/accuracy"] > 0.2
    else:
        chance = 1.0 - 1.0 / loop.setup(config).dataset.num_classes
        assert final["valid/error_rate"] < chance - 0.1


def test_batch_statistics_are_checkpointed_and_reproduce_the_recorded_metrics(trained):
    config, workdir, _ = trained("cifar10")
    step, state = loop.restore(config, workdir, "best")
    stats = state.model_state["batch_stats"]["norm_init"]
    assert not np.allclose(stats["mean"], 0.0) and not np.allclose(stats["var"], 1.0)

    _, metrics = loop.evaluate_checkpoint(config, workdir)
    recorded = {r["step"]: r for r in read_metrics(workdir / "metrics.jsonl")}[step]
    for key, value in metrics.items():
        assert value == pytest.approx(recorded[key], abs=1e-6)


def test_bfloat16_trial_keeps_float32_parameters_and_optimizer_state(trained):
    config, workdir, _ = trained("lm")
    assert config.model.dtype == "bfloat16"
    _, state = loop.restore(config, workdir, "latest")
    floats = [x.dtype for x in jax.tree.leaves((state.params, state.opt_state))
              if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and set(floats) == {jnp.dtype(jnp.float32)}
    trial = loop.setup(config)
    jaxpr = str(jax.make_jaxpr(loop.functions(trial).evaluate)(
        state.params, *[np.asarray(a) for a in next(iter(loop.eval_batches(trial)))]))
    assert "bf16[" in jaxpr  # the computation itself is bfloat16


def test_an_interrupted_batch_norm_trial_resumes_to_the_same_state_bitwise(
        trained, tmp_path, monkeypatch):
    config, whole, _ = trained("cifar10")
    # A latest checkpoint at every evaluation (the default policy saves it once a minute),
    # so that the interruption below has the checkpoint of step 15 behind it.
    config = config_lib.with_values(config, {"checkpoint.save_latest_every_seconds": 0})
    write = metrics_lib.MetricsWriter.write

    def write_then_fail(self, step, scalars):
        write(self, step, scalars)
        if step == 20:  # after the checkpoint of step 15
            raise RuntimeError("interrupted")

    monkeypatch.setattr(metrics_lib.MetricsWriter, "write", write_then_fail)
    assert loop.train_and_evaluate(config, tmp_path).status == "failed"
    assert loop.restore(config, tmp_path, "latest")[0] == 15  # it resumes from here
    monkeypatch.setattr(metrics_lib.MetricsWriter, "write", write)
    assert loop.train_and_evaluate(config, tmp_path).status == "done"

    (_, resumed), (_, uninterrupted) = (loop.restore(config, w, "latest")
                                        for w in (tmp_path, whole))
    for key in ("params", "model_state"):
        for a, b in zip(jax.tree.leaves(getattr(resumed, key)),
                        jax.tree.leaves(getattr(uninterrupted, key)),
                        strict=True):
            np.testing.assert_array_equal(a, b)


def _config(name: str, root, *overrides: str) -> ConfigDict:
    path, tiny = TINY[name]
    return config_lib.load(str(root / "configs" / path), [*TINY_TRAINING, *tiny, *overrides])


def test_synthetic_batches_are_a_function_of_seed_and_step(root):
    dataset = workloads.get("cifar10").load(_config("cifar10", root))
    again = workloads.get("cifar10").load(_config("cifar10", root))
    idx = np.array([[3, 1, 4], [1, 5, 9]])

    x, y = dataset.train.inputs[idx], dataset.train.labels[idx]
    assert x.shape == (2, 3, 8, 8, 3) and x.dtype == np.float32 and y.shape == (2, 3)
    np.testing.assert_array_equal(again.train.inputs[idx], x)
    np.testing.assert_array_equal(x[0, 1], x[1, 0])  # example 1, read twice
    assert not np.array_equal(dataset.valid.inputs[:3], x[0])  # splits do not overlap


def test_a_record_split_reads_each_batch_once_and_only_the_indices_asked_for():
    reads = []

    class Source:
        def __len__(self):
            return 10

        def __getitem__(self, i):
            reads.append(i)
            return np.full((2,), i, np.float32), i % 3

    split = RecordSplit(Source(), lambda r, rng: r, (2,), np.float32,
                        indices=np.array([9, 8, 7, 6, 5, 4]), num_workers=1)
    inputs, labels = split.inputs[np.array([0, 2])], split.labels[np.array([0, 2])]

    assert len(split) == 6 and split.inputs.shape == (6, 2)
    np.testing.assert_array_equal(inputs, [[9, 9], [7, 7]])
    np.testing.assert_array_equal(labels, [0, 1])
    assert reads == [9, 7]


def test_training_augmentation_is_seeded_by_the_batch_and_evaluation_is_not_augmented():
    rng = np.random.default_rng(0)
    records = [{"image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "label": i}
               for i in range(4)]
    cifar = workloads.get("cifar10")

    def split(seed):
        return RecordSplit(records, lambda r, g: cifar._example(r, g, size=32), (32, 32, 3),
                           np.float32, augment_seed=seed, num_workers=1)

    batch = split(0).inputs[np.array([0, 1])]
    np.testing.assert_array_equal(split(0).inputs[np.array([0, 1])], batch)
    other_batch = split(0).inputs[np.array([0, 2])]
    assert not np.array_equal(other_batch[0], batch[0])  # example 0, new crop and flip
    plain = split(None).inputs[np.array([0])][0]
    np.testing.assert_allclose(plain, images.standardize(records[0]["image"],
                                                         images.CIFAR10_MEAN, images.CIFAR10_STD))


def test_on_demand_evaluation_batches_equal_in_memory_ones_and_weigh_padding_zero():
    rng = np.random.default_rng(0)
    inputs, labels = rng.normal(size=(10, 3)).astype(np.float32), np.arange(10, dtype=np.int32)
    lazy = RecordSplit(list(zip(inputs, labels)), lambda r, g: r, (3,), np.float32,
                       num_workers=1)
    mesh = sharding.make_mesh()
    on_demand = sharding.eval_batches(lazy, 4, mesh)
    in_memory = sharding.eval_batches(Split(inputs, labels), 4, mesh)

    assert len(on_demand) == len(in_memory) == 3
    for ours, theirs in zip(on_demand, in_memory):
        x, y, w = (np.asarray(a) for a in ours)
        tx, ty, tw = (np.asarray(a) for a in theirs)
        np.testing.assert_array_equal(w, tw)
        np.testing.assert_array_equal(x[w > 0], tx[tw > 0])
        np.testing.assert_array_equal(y[w > 0], ty[tw > 0])
    assert len(list(on_demand)) == 3  # iterable again


def test_validation_is_carved_from_training_records_without_overlap():
    train, valid = carve(100, 10, seed=3)
    assert len(train) == 90 and len(valid) == 10
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(100))
    np.testing.assert_array_equal(carve(100, 10, seed=3)[1], valid)


def test_lm_metrics_ignore_padding_and_text_becomes_bytes_after_a_zero():
    tokens = byte_tokens("hi!", 6)
    np.testing.assert_array_equal(tokens, [0, ord("h"), ord("i"), ord("!"), 0, 0])
    labels = np.array([[5, 2, 0, 0]])
    logits = np.full((1, 4, 8), -10.0, np.float32)
    logits[0, 0, 5] = logits[0, 1, 3] = 10.0  # right, then wrong; the rest is padding
    metrics = LanguageModel().eval_metrics(logits, labels)
    assert float(metrics["accuracy"][0]) == pytest.approx(0.5)
    assert float(metrics["loss"][0]) == pytest.approx(10.0, abs=0.01)  # (0 + 20) / 2


@pytest.mark.parametrize("name, overrides, match", [
    ("cifar10", ["--config.model.virtual_batch_size=12"], "not a multiple of .*=12"),
    ("cifar10", ["--config.data.source=disk"], "valid: synthetic, tfds"),
    ("lm", ["--config.data.seq_len=32"], "max_len=16 is shorter than data.seq_len=32"),
])
def test_bad_workload_config_is_a_config_error(name, overrides, match, root):
    with pytest.raises(ConfigError, match=match):
        loop.setup(_config(name, root, *overrides))
