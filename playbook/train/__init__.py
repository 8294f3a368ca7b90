"""Training one trial or a group: `setup` (config -> `TrialSetup`), `programs`
(compiled functions, `start`), `state` (`TrainState`), `driver` (the loop),
`bookkeeping` (what a trial records: `TrialRun`), `evaluation`, `loop`
(`train_and_evaluate`), `batched` (K trials in one program), optimizers with
array hyperparameters (`optimizers`), best-plus-latest orbax checkpoints
(`checkpoints`) and metric writers (`metrics`). Import the submodules
directly; this package imports nothing so that each stays cheap to load.
"""
