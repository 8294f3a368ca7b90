"""playbook: the Deep Learning Tuning Playbook as a JAX/Flax framework.

A study compares values of *scientific* hyperparameters, each after optimising
the *nuisance* hyperparameters, with every other key of a baseline config
*fixed*. See README.md and docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
