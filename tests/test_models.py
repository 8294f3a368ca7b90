"""Specifications of playbook.models: builders read the `model` config section
and every model maps a batch to logits [batch, num_classes]."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from playbook import models
from playbook.errors import ConfigError


def _init_apply(model, x):
    # Jitted: one compilation is faster on CPU than compiling each op eagerly.
    params = jax.jit(model.init)(jax.random.key(0), x)
    return params, jax.jit(model.apply)(params, x)


def test_mlp_maps_a_batch_to_logits_as_depth_relu_layers_of_width_then_a_linear_one():
    model = models.build(ConfigDict(dict(name="mlp", width=16, depth=2)), num_classes=10)
    x = np.random.default_rng(0).normal(size=(5, 40)).astype(np.float32)
    variables, logits = _init_apply(model, jnp.asarray(x))
    assert logits.shape == (5, 10)
    # The same function in numpy, from the initialised weights: x W + b, relu, twice; then
    # the logits layer.
    layers = [variables["params"][f"Dense_{i}"] for i in range(3)]
    assert [w["kernel"].shape for w in layers] == [(40, 16), (16, 16), (16, 10)]
    h = x
    for layer in layers[:2]:
        h = np.maximum(h @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"]), 0.0)
    expected = h @ np.asarray(layers[2]["kernel"]) + np.asarray(layers[2]["bias"])
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_cnn1d_adds_a_channel_axis_to_two_dimensional_inputs():
    cfg = ConfigDict(dict(name="cnn1d", channels=8, depth=2, kernel_size=3, width=16))
    model = models.build(cfg, num_classes=10)
    params, logits = _init_apply(model, jnp.ones((4, 40)))
    assert logits.shape == (4, 10)
    assert params["params"]["Conv_0"]["kernel"].shape == (3, 1, 8)  # kernel, in, out
    # Two stride-2 pools take length 40 to 10: the head sees 10 * 8 features.
    assert params["params"]["Dense_0"]["kernel"].shape == (80, 16)


def test_cnn1d_accepts_inputs_that_already_have_channels():
    cfg = ConfigDict(dict(name="cnn1d", channels=4, depth=1, kernel_size=5, width=0))
    params, logits = _init_apply(models.build(cfg, num_classes=3), jnp.ones((2, 12, 2)))
    assert logits.shape == (2, 3)
    assert params["params"]["Conv_0"]["kernel"].shape == (5, 2, 4)
    assert "Dense_1" not in params["params"]  # width 0: logits straight from conv features


def test_cnn1d_deeper_than_the_input_is_long_still_works():
    cfg = ConfigDict(dict(name="cnn1d", channels=4, depth=5, kernel_size=3, width=8))
    params, logits = _init_apply(models.build(cfg, num_classes=10), jnp.ones((3, 5)))
    assert logits.shape == (3, 10) and bool(jnp.all(jnp.isfinite(logits)))
    # Pools round up: 5 -> 3 -> 2 -> 1 -> 1 -> 1, so the head sees one position's 4 channels.
    assert params["params"]["Dense_0"]["kernel"].shape == (1 * 4, 8)


def _documented_defaults(model_name: str) -> dict[str, str]:
    """`key (..., default VALUE)` of `model_name`'s entry in playbook.models' docstring."""
    entry = re.search(rf"^  {model_name}:(.*?)(?=^  \S)", models.__doc__, re.M | re.S).group(1)
    return dict(re.findall(r"(\w+) \([^()]*?default (\w+)\)", " ".join(entry.split())))


def test_cnn1d_defaults_are_the_documented_ones_and_size_the_documented_layers():
    documented = _documented_defaults("cnn1d")
    assert set(documented) == {"channels", "depth", "kernel_size", "width", "activation",
                               "dropout"}
    model = models.build(ConfigDict(dict(name="cnn1d")), num_classes=10)
    for key, value in documented.items():
        assert str(getattr(model, key)).removesuffix(".0") == value, key
    defaults = {k: int(v) for k, v in documented.items() if v.isdigit()}
    params, _ = _init_apply(model, jnp.ones((1, 40)))  # MNIST-1D: 40 samples, one channel
    # Counted from the documented layers: `depth` convolutions of `kernel_size` (weights and
    # a bias per output channel), each followed by a stride-2 pool (40 -> 20 -> 10), the
    # flattened features into a dense head of `width`, then the logits.
    c, k, w = defaults["channels"], defaults["kernel_size"], defaults["width"]
    expected = (k * 1 + 1) * c + (k * c + 1) * c + (10 * c + 1) * w + (w + 1) * 10
    assert sum(x.size for x in jax.tree.leaves(params)) == expected == 47_722


def test_dropout_is_active_only_in_training():
    cfg = ConfigDict(dict(name="cnn1d", channels=4, depth=1, kernel_size=3, width=32,
                          dropout=0.5))
    model = models.build(cfg, num_classes=10)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 20)), jnp.float32)
    params, eval_logits = _init_apply(model, x)
    np.testing.assert_array_equal(eval_logits, model.apply(params, x, train=False))
    train_logits = model.apply(params, x, train=True, rngs={"dropout": jax.random.key(1)})
    assert not np.allclose(train_logits, eval_logits)


def test_unknown_model_name_lists_known_models():
    with pytest.raises(ConfigError, match=r"unknown model.name 'cnn'.*known models: cnn1d, mlp"):
        models.build(ConfigDict(dict(name="cnn")), num_classes=10)
