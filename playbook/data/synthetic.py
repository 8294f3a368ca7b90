"""Generated datasets with the shapes of real ones, for tests and benchmarks.

Each example is a function of (seed, index) only, made when it is read, so a
synthetic ImageNet of any size costs no memory and no download. The data are
learnable, so a decreasing loss means the model and the loop work:
  `SyntheticImages`: each class has a smooth random template (a 4x4x3 pattern
    upsampled to the image size); an example is its class template plus
    Gaussian noise; labels are uniform.
  `SyntheticTokens`: sequences of a Markov chain over tokens 1..vocab_size-1
    (0 is padding) that follows a fixed random permutation with probability
    `follow` and jumps to a uniform token otherwise; an ideal model's
    next-token accuracy is about `follow`.
Sources are random-access sequences for `playbook.data.records.RecordSplit`;
`offset` keeps the examples of different splits apart.
"""

from __future__ import annotations

import numpy as np


class SyntheticImages:
    """`source[i]` = (image float32 [size, size, 3], label int) for i < num_examples."""

    def __init__(self, num_examples: int, num_classes: int, image_size: int, seed: int,
                 offset: int = 0, noise: float = 1.0):
        self.num_examples, self.num_classes = num_examples, num_classes
        self.image_size, self.seed, self.offset, self.noise = image_size, seed, offset, noise
        coarse = np.random.default_rng([seed, 0]).normal(size=(num_classes, 4, 4, 3))
        reps = -(-image_size // 4)
        up = np.repeat(np.repeat(coarse, reps, axis=1), reps, axis=2)
        self.templates = up[:, :image_size, :image_size].astype(np.float32)

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if not 0 <= i < self.num_examples:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, 1, self.offset + i])
        label = int(rng.integers(self.num_classes))
        noise = rng.standard_normal(self.templates.shape[1:], dtype=np.float32)
        return self.templates[label] + self.noise * noise, label


class SyntheticTokens:
    """`source[i]` = int32 tokens [seq_len + 1] in [1, vocab_size)."""

    def __init__(self, num_examples: int, vocab_size: int, seq_len: int, seed: int,
                 offset: int = 0, follow: float = 0.8):
        if vocab_size < 3:
            raise ValueError(f"vocab_size={vocab_size} must be at least 3")
        self.num_examples, self.vocab_size, self.seq_len = num_examples, vocab_size, seq_len
        self.seed, self.offset, self.follow = seed, offset, follow
        self.successor = np.random.default_rng([seed, 0]).permutation(vocab_size - 1) + 1
        self.successor = np.concatenate([[1], self.successor]).astype(np.int32)

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.num_examples:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, 1, self.offset + i])
        n = self.seq_len + 1
        jumps = rng.integers(1, self.vocab_size, n).astype(np.int32)
        follows = rng.random(n) < self.follow
        tokens = np.empty(n, np.int32)
        tokens[0] = jumps[0]
        for t in range(1, n):
            tokens[t] = self.successor[tokens[t - 1]] if follows[t] else jumps[t]
        return tokens
