"""Optional experiment trackers: each trial as a Weights & Biases run and an MLflow run.

Off unless `PLAYBOOK_TRACKERS` names them (`wandb`, `mlflow`, or `wandb,mlflow`);
each needs its extra (`pip install -e ".[wandb]"` / `".[mlflow]"`). A trial inside
a study is logged with the study's name as the W&B group and as the MLflow
experiment, under its trial id; a lone trial under its directory's name. The
trackers' own settings apply as usual: W&B's `WANDB_PROJECT` (default
`playbook`), `WANDB_MODE=offline`, `WANDB_DIR` (default: the trial's directory,
so an offline run stays with the study); MLflow's `MLFLOW_TRACKING_URI`
(e.g. `file:/path/mlruns`). A resumed trial continues its W&B run (the run id
is derived from the trial directory); MLflow starts a new run per attempt.
The metrics writer calls these; the study directory stays the record.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from typing import Any

from playbook.errors import ConfigError

ENV = "PLAYBOOK_TRACKERS"
KNOWN = ("wandb", "mlflow")
MLFLOW_PARAMS_PER_CALL = 100  # MLflow's batch limit


def names() -> list[str]:
    """The trackers that PLAYBOOK_TRACKERS asks for (ConfigError for unknown or missing ones)."""
    wanted = [n.strip().lower() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    for name in wanted:
        if name not in KNOWN:
            raise ConfigError(f"{ENV} names tracker '{name}'; valid: {', '.join(KNOWN)} "
                              f"(comma-separated), or unset it")
        if importlib.util.find_spec(name) is None:
            raise ConfigError(f"{ENV} asks for {name}, which is not installed: "
                              f"pip install 'playbook[{name}]', or unset {ENV}")
    return wanted


def study_and_trial(workdir: str) -> tuple[str, str]:
    """(group, run name): the study's name and the trial id for a study's trial directory
    (STUDY/trials/ID), else ('playbook', the directory's name)."""
    workdir = os.path.abspath(workdir)
    parent = os.path.dirname(workdir)
    study_json = os.path.join(os.path.dirname(parent), "study.json")
    if os.path.basename(parent) == "trials" and os.path.exists(study_json):
        try:
            with open(study_json) as f:
                name = json.load(f)["spec"]["name"]
            return str(name), os.path.basename(workdir)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return "playbook", os.path.basename(workdir)


def create(workdir: str) -> list[Any]:
    """The trackers asked for, each opened for the trial in `workdir`."""
    group, run = study_and_trial(workdir)
    classes = {"wandb": WandbTracker, "mlflow": MlflowTracker}
    opened = []
    for name in names():
        try:
            opened.append(classes[name](workdir, group, run))
        except Exception as e:  # noqa: BLE001 - any tracker error is a settings problem here
            for tracker in opened:
                tracker.close()
            detail = (str(e).splitlines() or [""])[0][:300]
            raise ConfigError(f"the {name} tracker could not start ({type(e).__name__}: "
                              f"{detail}); fix its settings or remove it from {ENV}") from None
    return opened


class WandbTracker:
    """A W&B run per trial: config = hyperparameters, group = study, name = trial id."""

    def __init__(self, workdir: str, group: str, run: str):
        import wandb

        run_id = hashlib.sha1(os.path.abspath(workdir).encode()).hexdigest()[:16]
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT", "playbook"),
                               group=group, name=run, id=run_id, resume="allow",
                               job_type="trial", reinit="create_new",
                               dir=os.environ.get("WANDB_DIR") or workdir)

    def hparams(self, hparams: Mapping[str, Any]) -> None:
        self._run.config.update(dict(hparams), allow_val_change=True)

    def scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self._run.log(dict(scalars), step=int(step))

    def summary(self, scalars: Mapping[str, float]) -> None:
        self._run.summary.update(dict(scalars))

    def close(self) -> None:
        self._run.finish()


class MlflowTracker:
    """An MLflow run per trial attempt: experiment = study, run name = trial id."""

    def __init__(self, workdir: str, group: str, run: str):
        import mlflow

        self._mlflow = mlflow
        experiment = mlflow.set_experiment(group)
        self._client = mlflow.MlflowClient()
        self._run_id = self._client.create_run(
            experiment.experiment_id, run_name=run,
            tags={"playbook.trial_dir": os.path.abspath(workdir)}).info.run_id

    def hparams(self, hparams: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in hparams.items()]
        for start in range(0, len(params), MLFLOW_PARAMS_PER_CALL):
            self._client.log_batch(self._run_id,
                                   params=params[start:start + MLFLOW_PARAMS_PER_CALL])

    def scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._client.log_batch(self._run_id, metrics=[
            Metric(k, float(v), now, int(step)) for k, v in scalars.items()])

    def summary(self, scalars: Mapping[str, float]) -> None:
        self.scalars(0, scalars)

    def close(self) -> None:
        self._client.set_terminated(self._run_id)
