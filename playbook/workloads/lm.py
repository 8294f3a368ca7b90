"""Next-token language modelling: a decoder-only Transformer on byte-level text.

Data come from TFDS (`data.source='tfds'`, default `lm1b`, One Billion Word,
one sentence per example, read by random access; any TFDS text dataset works
via `data.tfds_name` and `data.text_key`) or are generated (`data.source=
'synthetic'`, the default: Markov-chain sequences, `playbook.data.synthetic`).
Text is tokenized as UTF-8 bytes (vocabulary 256, no tokenizer to train or
download): an example is `[0] + bytes`, cut or zero-padded to `seq_len + 1`
tokens; inputs are its first `seq_len` tokens and labels the last `seq_len`
(the next token at each position). Label 0 is padding and is ignored.

Metrics, per sequence: `loss` (mean next-token cross-entropy, nats per token,
the default selection metric; perplexity is exp(loss)), `accuracy` and
`error_rate` (next-token); the loop averages them over sequences. Validation
is `data.num_valid` sequences carved from the training split by `data.seed`;
test is the dataset's `test` split.

`data` keys: source, seed, seq_len, num_valid, num_workers, tfds_name,
text_key, data_dir; synthetic only: vocab_size, num_train, num_test, follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from ml_collections import ConfigDict

from playbook.data import synthetic
from playbook.data import tfds as tfds_lib
from playbook.data.records import RecordSplit, carve
from playbook.errors import ConfigError
from playbook.workloads import registry
from playbook.workloads.base import MAXIMIZE, MINIMIZE, Dataset
from playbook.workloads.images import data_option, source_kind

PAD = 0
BYTE_VOCAB = 256


def byte_tokens(text: Any, length: int) -> np.ndarray:
    """int32 [length]: 0, then the UTF-8 bytes of `text`, cut or zero-padded."""
    raw = text if isinstance(text, bytes) else str(text).encode("utf-8")
    tokens = np.zeros(length, np.int32)
    body = np.frombuffer(raw, np.uint8)[:length - 1]
    tokens[1:1 + len(body)] = body
    return tokens


def _shift(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return tokens[:-1], tokens[1:]


@registry.register("lm")
class LanguageModel:
    name = "lm"
    metric_goals: Mapping[str, str] = {
        "loss": MINIMIZE, "accuracy": MAXIMIZE, "error_rate": MINIMIZE}
    default_metric = "loss"

    def load(self, config: ConfigDict) -> Dataset:
        data = config.get("data", ConfigDict())
        seed = int(data.get("seed", 0))
        seq_len = int(data_option(data, "seq_len", 128, positive=True))
        num_valid = int(data_option(data, "num_valid", 10000, positive=True))
        workers = int(data.get("num_workers", 0))
        shape = (seq_len,)

        def split(source, example, indices=None):
            return RecordSplit(source, example, shape, np.int32, label_shape=shape,
                               indices=indices, num_workers=workers)

        if source_kind(data) == "synthetic":
            vocab = int(data_option(data, "vocab_size", 64, positive=True))
            if vocab < 3:
                raise ConfigError(f"data.vocab_size={vocab} must be at least 3")
            num_train = int(data_option(data, "num_train", 2048, positive=True))
            num_test = int(data_option(data, "num_test", 256, positive=True))
            follow = float(data.get("follow", 0.8))

            def make(n, offset):
                source = synthetic.SyntheticTokens(n, vocab, seq_len, seed, offset, follow)
                return split(source, lambda tokens, rng: _shift(tokens))

            return Dataset(make(num_train, 0), make(num_valid, num_train),
                           make(num_test, num_train + num_valid), vocab)
        name = data.get("tfds_name", "lm1b")
        key = data.get("text_key", "text")
        data_dir = data.get("data_dir", "") or None
        train_source = tfds_lib.data_source(name, "train", data_dir)
        test_source = tfds_lib.data_source(name, "test", data_dir)
        if num_valid >= len(train_source):
            raise ConfigError(f"data.num_valid={num_valid} leaves no training examples of "
                              f"{len(train_source)}; use at most {len(train_source) - 1}")

        def example(record, rng):
            if key not in record:
                raise ConfigError(f"data.text_key '{key}' is not a feature of TFDS dataset "
                                  f"'{name}'; features: {', '.join(sorted(record))}")
            return _shift(byte_tokens(record[key], seq_len + 1))

        train_idx, valid_idx = carve(len(train_source), num_valid, seed)
        return Dataset(split(train_source, example, train_idx),
                       split(train_source, example, valid_idx),
                       split(test_source, example), BYTE_VOCAB)

    def model(self, config: ConfigDict, dataset: Dataset):
        from playbook import models

        seq_len = dataset.train.inputs.shape[1]
        max_len = int(config.model.get("max_len", 512))
        if max_len < seq_len:
            raise ConfigError(f"model.max_len={max_len} is shorter than data.seq_len={seq_len}; "
                              f"use a max_len of at least {seq_len}")
        return models.build(config.model, num_classes=dataset.num_classes)

    @staticmethod
    def _per_sequence(values: jax.Array, labels: jax.Array) -> jax.Array:
        mask = (labels != PAD).astype(jnp.float32)
        return jnp.sum(values * mask, -1) / jnp.maximum(jnp.sum(mask, -1), 1.0)

    def train_loss(self, logits: jax.Array, labels: jax.Array) -> jax.Array:
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return self._per_sequence(losses, labels)

    def eval_metrics(self, logits: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        accuracy = self._per_sequence(correct, labels)
        return {"loss": self.train_loss(logits, labels), "accuracy": accuracy,
                "error_rate": 1.0 - accuracy}
