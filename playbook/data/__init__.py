"""In-memory data for the training loop: deterministic train batch indices by step,
padded eval batches, the host-local slice of a global batch, and the on-disk
cache of generated datasets. Datasets themselves come from `playbook.workloads`.
"""

from playbook.data.batching import (
    eval_batches,
    shard_for_process,
    steps_per_epoch,
    train_indices,
)
from playbook.data.cache import cache_dir, load_or_build

__all__ = ["cache_dir", "eval_batches", "load_or_build", "shard_for_process", "steps_per_epoch",
           "train_indices"]
