"""Image classification workloads: CIFAR-10 and ImageNet (ILSVRC 2012).

Data come from TFDS (`data.source='tfds'`, read by random access from
ArrayRecord files, see `playbook.data.tfds`) or are generated with the same
shapes (`data.source='synthetic'`, the default, for tests and benchmarks; see
`playbook.data.synthetic`). Splits, as in the other workloads: validation is
`data.num_valid` examples carved from the training split by `data.seed`
(ImageNet: a "minival" of 10,000, as in big_vision); test is the dataset's own
held-out split (CIFAR-10 `test`, ImageNet `validation`), never used for
selection. Preprocessing is in `playbook.data.images`; training examples are
augmented unless `data.augment` is False.

`data` keys: source, seed, num_valid, image_size, augment, num_workers (decode
threads per process, 0: automatic), tfds_name, data_dir (TFDS data_dir, may be
gs://); synthetic only: num_train, num_test, noise, num_classes (default: the
dataset's; fewer make a small run learnable).
The model is any image model of `playbook.models` (resnet, resnet_cifar, vit).
"""

from __future__ import annotations

import functools

import numpy as np
from ml_collections import ConfigDict

from playbook.data import images as preprocess
from playbook.data import synthetic
from playbook.data import tfds as tfds_lib
from playbook.data.records import RecordSplit, carve
from playbook.errors import ConfigError
from playbook.workloads import registry
from playbook.workloads.base import ClassificationWorkload, Dataset

SOURCES = ("synthetic", "tfds")


def data_option(data: ConfigDict, key: str, default, positive: bool = False):
    value = data.get(key, default)
    if positive and int(value) <= 0:
        raise ConfigError(f"data.{key}={value} must be positive")
    return value


def source_kind(data: ConfigDict) -> str:
    kind = data.get("source", "synthetic")
    if kind not in SOURCES:
        raise ConfigError(f"data.source '{kind}' is unknown; valid: {', '.join(SOURCES)}")
    return kind


def check_virtual_batch_size(config: ConfigDict) -> None:
    """Ghost batch norm needs train batches that split into whole virtual batches."""
    virtual = int(config.model.get("virtual_batch_size", 0))
    batch = int(config.get("batch_size", 0))
    if virtual > 0 and batch % virtual:
        raise ConfigError(f"batch_size={batch} is not a multiple of model.virtual_batch_size="
                          f"{virtual}; use a virtual batch size that divides it (or 0)")


class ImageWorkload(ClassificationWorkload):
    """An image dataset of `num_classes` classes; subclasses set names and preprocessing."""

    tfds_name: str
    train_split, test_split = "train", "test"
    num_classes: int
    image_size: int
    num_valid: int
    synthetic_sizes = (1024, 256)  # (num_train, num_test) by default

    def preprocess(self, image, rng, size):
        raise NotImplementedError

    def load(self, config: ConfigDict) -> Dataset:
        data = config.get("data", ConfigDict())
        seed = int(data.get("seed", 0))
        size = int(data_option(data, "image_size", self.image_size, positive=True))
        num_valid = int(data_option(data, "num_valid", self.num_valid, positive=True))
        workers = int(data.get("num_workers", 0))
        augment = bool(data.get("augment", True))
        shape = (size, size, 3)
        if source_kind(data) == "synthetic":
            num_train, num_test = (int(data_option(data, k, d, positive=True)) for k, d in
                                   zip(("num_train", "num_test"), self.synthetic_sizes))
            noise = float(data.get("noise", 1.0))
            classes = int(data_option(data, "num_classes", self.num_classes, positive=True))

            def split(n, offset):
                source = synthetic.SyntheticImages(n, classes, size, seed, offset, noise)
                return RecordSplit(source, lambda r, rng: r, shape, np.float32,
                                   num_workers=workers)

            return Dataset(split(num_train, 0), split(num_valid, num_train),
                           split(num_test, num_train + num_valid), classes)
        name = data.get("tfds_name", self.tfds_name)
        data_dir = data.get("data_dir", "") or None
        train_source = tfds_lib.data_source(name, self.train_split, data_dir)
        test_source = tfds_lib.data_source(name, self.test_split, data_dir)
        if num_valid >= len(train_source):
            raise ConfigError(f"data.num_valid={num_valid} leaves no training examples of "
                              f"{len(train_source)}; use at most {len(train_source) - 1}")
        train_idx, valid_idx = carve(len(train_source), num_valid, seed)
        example = functools.partial(self._example, size=size)

        def split(source, indices, augmented):
            return RecordSplit(source, example, shape, np.float32, indices=indices,
                               augment_seed=seed if augmented and augment else None,
                               num_workers=workers)

        return Dataset(split(train_source, train_idx, True),
                       split(train_source, valid_idx, False),
                       split(test_source, None, False), self.num_classes)

    def _example(self, record, rng, size):
        return self.preprocess(np.asarray(record["image"]), rng, size), int(record["label"])

    def model(self, config: ConfigDict, dataset: Dataset):
        check_virtual_batch_size(config)
        return super().model(config, dataset)


@registry.register("cifar10")
class CIFAR10(ImageWorkload):
    name = "cifar10"
    tfds_name = "cifar10"
    num_classes, image_size, num_valid = 10, 32, 5000

    def preprocess(self, image, rng, size):
        return preprocess.cifar(image, rng, size)


@registry.register("imagenet")
class ImageNet(ImageWorkload):
    name = "imagenet"
    tfds_name = "imagenet2012"
    test_split = "validation"
    num_classes, image_size, num_valid = 1000, 224, 10000
    synthetic_sizes = (512, 128)

    def preprocess(self, image, rng, size):
        return preprocess.imagenet(image, rng, size)
