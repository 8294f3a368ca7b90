"""The designer protocol: how a study chooses points in the unit cube.

A designer proposes points in [0, 1]^d; the search space maps them to values
(`playbook.search`). Its state is a small JSON-ready dict saved in `study.json`
so a resumed or extended study continues where it stopped. Designers know
nothing of configs, trials on disk, or training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class Designer(Protocol):
    name: str

    def suggest(self, n: int, observations: Sequence[Any] = ()) -> np.ndarray:
        """The next `n` points, an array [n, dim] in the unit cube.

        `observations` are (point, objective-or-None) pairs of finished trials;
        non-adaptive designers ignore them.
        """
        ...

    def state(self) -> dict[str, Any]:
        """A JSON-ready dict from which `from_state` rebuilds this designer."""
        ...
