"""Training one trial: optimizers with array hyperparameters (`optimizers`),
best-plus-latest orbax checkpoints (`checkpoints`), metric writers
(`metrics`) and the loop that drives them (`loop`). Import the submodules
directly; this package imports nothing so that each stays cheap to load.
"""
