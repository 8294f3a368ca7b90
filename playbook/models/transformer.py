"""A decoder-only Transformer language model for token sequences [N, T] (int32).

Tokens are embedded, a learned position embedding (up to `max_len` positions)
is added, and `depth` pre-LayerNorm blocks with causal self-attention
(`playbook.models.vit.EncoderBlock` under a causal mask) follow; the output
projection is the transposed token embedding (tied weights), scaled by
1/sqrt(width) as in the Flax LM examples. Returns
next-token logits [N, T, vocab_size] as float32: position t predicts token
t + 1, and the workload shifts the labels accordingly.

`dtype` is the computation dtype (bfloat16 for mixed precision); parameters
stay float32.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from playbook.models.vit import EncoderBlock


class TransformerLM(nn.Module):
    vocab_size: int
    width: int = 512
    depth: int = 6
    num_heads: int = 8
    mlp_dim: int = 2048
    max_len: int = 512
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, tokens, *, train: bool = False):
        if tokens.ndim != 2:
            raise ValueError(f"TransformerLM expects tokens [N, T], got shape {tokens.shape}")
        t = tokens.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequences of {t} tokens exceed max_len={self.max_len}")
        embed = nn.Embed(self.vocab_size, self.width, dtype=self.dtype,
                         embedding_init=nn.initializers.normal(stddev=1.0), name="embed")
        pos = self.param("pos_embedding", nn.initializers.normal(0.02),
                         (1, self.max_len, self.width))
        x = embed(tokens.astype(jnp.int32)) + pos[:, :t].astype(self.dtype)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        mask = nn.make_causal_mask(tokens)
        for i in range(self.depth):
            x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout, self.dtype,
                             name=f"decoder_{i}")(x, mask, train=train)
        x = nn.LayerNorm(dtype=self.dtype, name="decoder_norm")(x)
        return (embed.attend(x) / jnp.sqrt(self.width).astype(x.dtype)).astype(jnp.float32)
