"""Designers choose points in the unit cube: `halton` for exploration, `bayesopt` for
exploitation. Each module registers its class (`base.register`) when imported; the
imports here make the built-in ones available to every study config."""

from __future__ import annotations

from playbook.designers.base import REGISTRY, Designer, create, from_state, lookup, register
from playbook.designers.bayesopt import BayesOpt
from playbook.designers.halton import Halton  # registered first: bayesopt.py imports it

NAMES = REGISTRY.keys()  # the registered designers' names, in registration order (a live view)

__all__ = ["REGISTRY", "BayesOpt", "Designer", "Halton", "NAMES", "create", "from_state",
           "lookup", "register"]
