"""The TFDS input path, on datasets TFDS generates itself (`tfds.testing.mock_data`:
random records with each dataset's real features, no download): cifar10,
imagenet2012 and lm1b load through their workloads, preprocess to the model's
shapes, and give the same batches for the same (seed, step); a dataset that is
not prepared is a ConfigError saying how to prepare it. Skipped without
tensorflow-datasets (the `tfds` extra), except in CI, which installs it."""

from __future__ import annotations

import numpy as np
import pytest
from extra_modules import require
from ml_collections import ConfigDict

from playbook import workloads
from playbook.errors import ConfigError
from playbook.train import loop

tfds = require("tensorflow_datasets", "tfds")


def _config(workload: str, **data) -> ConfigDict:
    config = ConfigDict(dict(workload=workload, batch_size=4,
                             data=dict(source="tfds", seed=0, num_workers=2, **data)))
    return config


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(num_examples=24):
        yield


def test_cifar10_from_tfds_has_carved_validation_and_standardized_images(mock_tfds):
    dataset = workloads.get("cifar10").load(_config("cifar10", num_valid=4))

    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (20, 4, 24)
    assert dataset.num_classes == 10
    x, y = dataset.valid.inputs[np.arange(4)], dataset.valid.labels[np.arange(4)]
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1.0 and 0.5 < float(x.std()) < 2.0  # standardized
    assert y.dtype == np.int32 and set(y.tolist()) <= set(range(10))


def test_imagenet_images_of_any_size_are_cropped_to_the_configured_size(mock_tfds):
    dataset = workloads.get("imagenet").load(_config("imagenet", num_valid=4, image_size=32))
    idx = np.arange(6)

    for split in (dataset.train, dataset.valid, dataset.test):
        inputs = split.inputs[idx[:len(split)][:4]]
        assert inputs.shape == (4, 32, 32, 3) and np.all(np.isfinite(inputs))
    assert dataset.num_classes == 1000


def test_lm1b_sentences_become_bytes_after_a_zero_with_shifted_labels(mock_tfds):
    dataset = workloads.get("lm").load(_config("lm", num_valid=4, seq_len=16))
    inputs, labels = dataset.train.inputs[np.arange(3)], dataset.train.labels[np.arange(3)]

    assert inputs.shape == labels.shape == (3, 16) and dataset.num_classes == 256
    assert np.all(inputs[:, 0] == 0)
    np.testing.assert_array_equal(inputs[:, 1:], labels[:, :-1])
    text = tfds.data_source("lm1b", split="train")[int(dataset.train.indices[0])]["text"]
    raw = text if isinstance(text, bytes) else text.encode()
    np.testing.assert_array_equal(labels[0, :min(16, len(raw))], list(raw[:16]))


def test_the_batches_of_a_step_are_the_same_when_the_trial_is_prepared_again(mock_tfds):
    config = ConfigDict(dict(
        workload="cifar10", batch_size=4, max_train_steps=4, eval_every_steps=2,
        log_every_steps=2, seed=1, optimizer="sgd", learning_rate=0.1,
        data=dict(source="tfds", seed=0, num_valid=4, num_workers=2),
        model=dict(name="mlp", width=8, depth=1)))
    first = [np.asarray(a) for a in loop.train_batches(loop.setup(config), 3, 2)]
    second = [np.asarray(a) for a in loop.train_batches(loop.setup(config), 3, 2)]

    assert first[0].shape == (2, 4, 32, 32, 3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other_step = np.asarray(loop.train_batches(loop.setup(config), 1, 2)[0])
    assert not np.array_equal(other_step, first[0])


@pytest.mark.parametrize("workload, tfds_name, hint", [
    ("cifar10", "cifar10", "tfds build cifar10 --file_format=array_record --data_dir="),
    ("imagenet", "imagenet2012", "--manual_dir=MANUAL_DIR"),
    ("lm", "lm1b", "tfds build lm1b --file_format=array_record"),
])
def test_a_dataset_that_is_not_prepared_is_a_config_error_saying_how_to_prepare_it(
        workload, tfds_name, hint, tmp_path):
    with pytest.raises(ConfigError, match=f"TFDS dataset '{tfds_name}'.*{hint}"):
        workloads.get(workload).load(_config(workload, data_dir=str(tmp_path)))
