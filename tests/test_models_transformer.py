"""Specifications of the decoder-only Transformer LM: causal, next-token logits
over the vocabulary, and it learns a Markov chain's transitions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

from playbook import models
from playbook.data.synthetic import SyntheticTokens
from playbook.errors import ConfigError

TINY = dict(name="transformer_lm", width=32, depth=2, num_heads=2, mlp_dim=64, max_len=16)


@pytest.mark.slow
def test_logits_at_a_position_do_not_depend_on_later_tokens():
    model = models.build(ConfigDict(TINY), num_classes=20)
    tokens = jax.random.randint(jax.random.key(0), (2, 12), 1, 20)
    variables = model.init(jax.random.key(1), tokens)
    changed = tokens.at[:, 7:].set((tokens[:, 7:] + 5) % 20)
    before, after = model.apply(variables, tokens), model.apply(variables, changed)

    assert before.shape == (2, 12, 20) and before.dtype == jnp.float32
    np.testing.assert_allclose(before[:, :7], after[:, :7], atol=1e-5)
    assert not np.allclose(before[:, 7:], after[:, 7:], atol=1e-3)


def test_sequences_longer_than_max_len_are_rejected():
    model = models.build(ConfigDict(TINY), num_classes=20)
    with pytest.raises(ValueError, match="max_len=16"):
        model.init(jax.random.key(0), jnp.ones((1, 17), jnp.int32))


def test_width_must_split_over_heads():
    with pytest.raises(ConfigError, match="multiple of 3"):
        models.build(ConfigDict(dict(TINY, num_heads=3)), num_classes=20)


@pytest.mark.slow
def test_learns_next_token_transitions_of_a_markov_chain():
    source = SyntheticTokens(64, vocab_size=16, seq_len=16, seed=0, follow=0.9)
    data = np.stack([source[i] for i in range(64)])
    inputs, labels = jnp.asarray(data[:, :-1]), jnp.asarray(data[:, 1:])
    model = models.build(ConfigDict(dict(TINY, dtype="bfloat16")), num_classes=16)
    params = model.init(jax.random.key(0), inputs)["params"]
    opt = optax.adam(3e-3)

    @jax.jit
    def step(params, opt_state):
        def loss_fn(p):
            logits = model.apply({"params": p}, inputs)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    opt_state, losses = opt.init(params), []
    for _ in range(60):
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    accuracy = float(jnp.mean(jnp.argmax(model.apply({"params": params}, inputs), -1) == labels))

    assert losses[0] > np.log(15) - 0.5  # about uniform at the start
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy > 0.6  # the chain follows its successor with probability 0.9


def test_defaults_are_the_transformer_base_model_and_count_its_parameters():
    # Vaswani et al. 2017, Table 3, "base": d_model 512, N 6 layers, h 8 heads, d_ff 2048.
    d, n, h, d_ff = 512, 6, 8, 2048
    vocab, max_len = 256, 512  # bytes; positions of the default max_len
    model = models.build(ConfigDict(dict(name="transformer_lm")), num_classes=vocab)
    assert (model.width, model.depth, model.num_heads, model.mlp_dim) == (d, n, h, d_ff)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x),
                               jax.ShapeDtypeStruct((1, 8), jnp.int32))
    count = sum(x.size for x in jax.tree.leaves(variables["params"]))
    # Per pre-LayerNorm block: Q, K, V and output projections with biases, the two MLP
    # layers with biases, two LayerNorms (scale and bias). Plus token embeddings (tied to the
    # output layer, so counted once), learned positions and the final LayerNorm.
    block = 4 * (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d) + 2 * 2 * d
    assert count == vocab * d + max_len * d + n * block + 2 * d
