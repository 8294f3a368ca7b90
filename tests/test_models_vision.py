"""Specifications of the image models: ResNets (ImageNet and CIFAR layouts) with
batch norm over the batch or over virtual batches, and ViT; their sizes match
the reference implementations, batch statistics are model state, and bfloat16
computes in bfloat16 while parameters stay float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from ml_collections import ConfigDict

from playbook import models
from playbook.errors import ConfigError
from playbook.models.norm import GhostBatchNorm


def _count(cfg: dict, shape, num_classes=1000):
    model = models.build(ConfigDict(cfg), num_classes)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x),
                               jax.ShapeDtypeStruct(shape, jnp.float32))
    return sum(x.size for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("cfg, expected", [
    (dict(name="resnet", depth=50), 25_557_032),  # torchvision resnet50
    (dict(name="resnet", depth=18), 11_689_512),  # torchvision resnet18
    # timm vit_small_patch16_224 has 22,050,664, with a class token and its position
    # embedding (2 x 384) that global average pooling does without.
    (dict(name="vit"), 22_050_664 - 2 * 384),
])
def test_parameter_counts_match_the_reference_implementations(cfg, expected):
    assert _count(cfg, (1, 224, 224, 3)) == expected


def test_ghost_batch_norm_normalizes_each_virtual_batch_by_its_own_statistics():
    x = jax.random.normal(jax.random.key(0), (8, 3, 5)) * 3.0 + 1.0
    ghost = GhostBatchNorm(virtual_batch_size=4, momentum=0.9, use_running_average=False)
    variables = ghost.init(jax.random.key(1), x)
    y, updated = jax.jit(lambda v, x: ghost.apply(v, x, mutable=["batch_stats"]))(variables, x)
    flax_bn = nn.BatchNorm(momentum=0.9, use_running_average=False)
    apply = jax.jit(lambda v, x: flax_bn.apply(v, x, mutable=["batch_stats"]))
    halves = [apply(variables, x[i:i + 4]) for i in (0, 4)]
    np.testing.assert_allclose(y, np.concatenate([h[0] for h in halves]), atol=1e-5)
    # Running averages move towards the mean of the virtual batches' statistics.
    for name in ("mean", "var"):
        expected = np.mean([h[1]["batch_stats"][name] for h in halves], axis=0)
        np.testing.assert_allclose(updated["batch_stats"][name], expected, atol=1e-6)


def test_ghost_batch_norm_over_the_whole_batch_equals_flax_batch_norm():
    x = jax.random.normal(jax.random.key(0), (6, 4)) + 2.0
    ghost = GhostBatchNorm(virtual_batch_size=6, use_running_average=False)
    variables = ghost.init(jax.random.key(1), x)
    ours = jax.jit(lambda v: ghost.apply(v, x, mutable=["batch_stats"]))(variables)
    flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.99)
    theirs = jax.jit(lambda v: flax_bn.apply(v, x, mutable=["batch_stats"]))(variables)
    np.testing.assert_allclose(ours[0], theirs[0], atol=1e-5)
    np.testing.assert_allclose(ours[1]["batch_stats"]["var"], theirs[1]["batch_stats"]["var"],
                               atol=1e-6)


def test_ghost_batch_norm_rejects_a_batch_that_does_not_split_into_virtual_batches():
    ghost = GhostBatchNorm(virtual_batch_size=4, use_running_average=False)
    variables = ghost.init(jax.random.key(0), jnp.ones((2, 3)))  # smaller: one group
    with pytest.raises(ValueError, match="multiple of 4"):
        ghost.apply(variables, jnp.ones((6, 3)), mutable=["batch_stats"])


TINY = {
    "resnet": dict(name="resnet", depth=14, width=4, stem="imagenet", virtual_batch_size=4),
    "resnet_cifar": dict(name="resnet_cifar", depth=8, width=4),
    "vit": dict(name="vit", patch_size=4, width=16, depth=1, num_heads=2, mlp_dim=32),
}


def _fit(model, x, labels, steps, learning_rate):
    """A few full-batch Adam steps; the losses, and the final variables."""
    variables = model.init(jax.random.key(0), x)
    params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
    opt = optax.adam(learning_rate)

    @jax.jit
    def step(params, state, opt_state):
        def loss_fn(p):
            logits, new_state = model.apply({"params": p, **state}, x, train=True,
                                            mutable=list(state))
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), new_state
        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), new_state, opt_state, loss

    losses, opt_state = [], opt.init(params)
    for _ in range(steps):
        params, state, opt_state, loss = step(params, state, opt_state)
        losses.append(float(loss))
    return losses, {"params": params, **state}


@pytest.mark.parametrize("name", [
    # The ResNets compile slowly on CPU; the workload tests train resnet_cifar fast.
    pytest.param("resnet", marks=pytest.mark.slow),
    pytest.param("resnet_cifar", marks=pytest.mark.slow),
    "vit"])
@pytest.mark.slow
def test_tiny_image_model_fits_a_small_batch_and_keeps_float32_logits(name):
    x = jax.random.normal(jax.random.key(0), (8, 16, 16, 3))
    labels = jnp.arange(8) % 4
    model = models.build(ConfigDict(TINY[name]), num_classes=4)
    losses, variables = _fit(model, x, labels, steps=12, learning_rate=1e-2)

    assert losses[-1] < 0.5 * losses[0]
    logits = model.apply(variables, x)
    assert logits.shape == (8, 4) and logits.dtype == jnp.float32
    has_stats = "batch_stats" in variables
    assert has_stats == name.startswith("resnet")


@pytest.mark.slow
def test_batch_statistics_are_updated_in_training_and_used_as_they_are_in_evaluation():
    model = models.build(ConfigDict(TINY["resnet_cifar"]), num_classes=4)
    x = jax.random.normal(jax.random.key(0), (8, 16, 16, 3)) * 2.0 + 3.0
    variables = jax.jit(model.init)(jax.random.key(0), x)
    _, updated = jax.jit(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"]))(
        variables)
    before = variables["batch_stats"]["norm_init"]["mean"]
    after = updated["batch_stats"]["norm_init"]["mean"]
    assert not np.allclose(before, after)
    # Evaluation normalizes with running averages: an example's logits do not
    # depend on the rest of its batch.
    with_stats = {**variables, **updated}
    apply = jax.jit(model.apply)
    alone, together = apply(with_stats, x[:1]), apply(with_stats, x)[:1]
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_bfloat16_computes_in_bfloat16_with_float32_parameters():
    cfg = dict(TINY["resnet_cifar"], dtype="bfloat16")
    model = models.build(ConfigDict(cfg), num_classes=4)
    x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    assert {p.dtype for p in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    jaxpr = str(jax.make_jaxpr(lambda v: model.apply(v, x))(variables))
    assert "conv_general_dilated" in jaxpr and "bf16[4,16,16,4]" in jaxpr
    logits = jax.jit(model.apply)(variables, x)
    reference = jax.jit(models.build(ConfigDict(TINY["resnet_cifar"]), 4).apply)(variables, x)
    assert logits.dtype == jnp.float32
    np.testing.assert_allclose(logits, reference, atol=0.05, rtol=0.05)


@pytest.mark.parametrize("cfg, match", [
    (dict(name="resnet", depth=20), "not a ResNet depth.*resnet_cifar"),
    (dict(name="resnet_cifar", depth=18), "6n \\+ 2"),
    (dict(name="resnet", depth=50, stem="tiny"), "stem"),
    (dict(name="vit", width=100, num_heads=6), "multiple of 6"),
    (dict(name="vit", pool="max"), "gap, cls"),
    (dict(name="resnet", dtype="float16"), "valid: float32, bfloat16"),
    (dict(name="resnet_cifar", virtual_batch_size=-1), "virtual_batch_size"),
    (dict(name="vit", widht=64), "did you mean 'width'"),
])
def test_bad_model_config_is_a_config_error_naming_a_valid_alternative(cfg, match):
    with pytest.raises(ConfigError, match=match):
        models.build(ConfigDict(cfg), num_classes=10)
