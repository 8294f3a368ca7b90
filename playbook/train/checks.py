"""Cheap checks of a trial config that need no data: run by a study on every
scientific value before anything is written, so a value that type-checks but
cannot train (an unknown optimizer, a zero batch size) is caught up front.

The training loop checks the same and more (batch size against the data and
the devices) when it prepares a trial; this module only fails early.
"""

from __future__ import annotations

import math

from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import external, models, workloads
from playbook.errors import ConfigError
from playbook.train import collapse, optimizers

POSITIVE_INTS = ("batch_size", "max_train_steps", "eval_every_steps", "log_every_steps")
NON_NEGATIVE = ("learning_rate", "weight_decay", "eps", "grad_clip_norm", "lr_end_factor")


def check(config: ConfigDict) -> None:
    """Raises ConfigError naming the first key of `config` that cannot train."""
    workload = workloads.get(config_lib.get(config, "workload"))
    for key in POSITIVE_INTS:
        value = config_lib.get(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{key}={value!r} must be a positive integer")
    for key in NON_NEGATIVE:
        if config_lib.has(config, key):
            value = _number(config, key)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{key}={value!r} must be a finite number >= 0")
    for key in ("momentum", "b1", "b2"):
        if config_lib.has(config, key):
            value = _number(config, key)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{key}={value!r} must be in [0, 1)")
    collapse.declared_in(config)
    optimizers.create(config)
    if not external.is_reference(config_lib.get(config, "workload")):  # else it builds its own
        models.build(config_lib.get(config, "model"), num_classes=2)
    metric = config.get("metric", None)
    if metric:
        valid = [f"valid/{m}" for m in workload.metric_goals]
        if metric not in valid:
            raise ConfigError(f"metric '{metric}' is not a validation metric of workload "
                              f"'{workload.name}'; valid: {', '.join(valid)}")


def _number(config: ConfigDict, key: str) -> float:
    value = config_lib.get(config, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value!r} must be a number")
    return float(value)
