"""A Vision Transformer (Dosovitskiy et al., 2021) for images [N, H, W, C].

Non-overlapping `patch_size` patches are embedded by one strided convolution,
a learned position embedding is added, and `depth` pre-LayerNorm encoder
blocks (multi-head self-attention, then a GELU MLP of `mlp_dim`) follow. The
image representation is the mean over patches (`pool='gap'`, as in big_vision's
"better plain ViT baselines") or a learned class token (`pool='cls'`); the head
starts at zero. ViT-S/16 is width 384, depth 12, 6 heads, mlp_dim 1536;
ViT-B/16 is 768, 12, 12, 3072.

`dtype` is the computation dtype (bfloat16 for mixed precision); parameters
stay float32 and the logits are returned as float32.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import linen as nn


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    num_heads: int
    mlp_dim: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, mask=None, *, train: bool = False):
        width = x.shape[-1]
        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, dtype=self.dtype, dropout_rate=self.dropout,
            kernel_init=nn.initializers.xavier_uniform(), deterministic=not train)(y, y, mask=mask)
        x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = nn.gelu(nn.Dense(self.mlp_dim, dtype=self.dtype,
                             kernel_init=nn.initializers.xavier_uniform())(y))
        y = nn.Dense(width, dtype=self.dtype, kernel_init=nn.initializers.xavier_uniform())(y)
        return x + nn.Dropout(self.dropout, deterministic=not train)(y)


class ViT(nn.Module):
    num_classes: int
    patch_size: int = 16
    width: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_dim: int = 1536
    pool: str = "gap"  # gap | cls
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if x.ndim != 4:
            raise ValueError(f"ViT expects images [N, H, W, C], got shape {x.shape}")
        p = self.patch_size
        x = nn.Conv(self.width, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                    name="embedding")(x.astype(self.dtype))
        n, h, w, c = x.shape
        x = x.reshape(n, h * w, c)
        pos = self.param("pos_embedding", nn.initializers.normal(1 / np.sqrt(c)), (1, h * w, c))
        x = x + pos.astype(self.dtype)
        if self.pool == "cls":
            cls = self.param("cls", nn.initializers.zeros, (1, 1, c))
            x = jnp.concatenate([jnp.broadcast_to(cls, (n, 1, c)).astype(self.dtype), x], axis=1)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        for i in range(self.depth):
            x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout, self.dtype,
                             name=f"encoder_{i}")(x, train=train)
        x = nn.LayerNorm(dtype=self.dtype, name="encoder_norm")(x)
        x = x[:, 0] if self.pool == "cls" else jnp.mean(x, axis=1)
        head = nn.Dense(self.num_classes, dtype=self.dtype, kernel_init=nn.initializers.zeros,
                        name="head")
        return head(x).astype(jnp.float32)
