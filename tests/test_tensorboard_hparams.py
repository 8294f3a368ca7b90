"""TensorBoard's HParams tab on a study directory, read back with TensorBoard's own hparams
plugin code: every trial is a session with its hyperparameters and the study metric."""

import os

import pytest
from extra_modules import require
from study_templates import BASELINE

from playbook import config as config_lib
from playbook import trial_files
from playbook.train import loop

hparams_plugin = require("tensorboard.plugins.hparams", "dev")
from tensorboard import context  # noqa: E402 - only where tensorboard is installed
from tensorboard.backend.event_processing import (  # noqa: E402
    data_provider,
    plugin_event_multiplexer,
)
from tensorboard.plugins import base_plugin  # noqa: E402
from tensorboard.plugins.hparams import (  # noqa: E402
    api_pb2,
    backend_context,
    get_experiment,
    list_session_groups,
)

LEARNING_RATES = (0.02, 0.2)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """Two tiny trials laid out as a study's trials/<id>/ directories."""
    root = tmp_path_factory.mktemp("tensorboard")
    for i, lr in enumerate(LEARNING_RATES):
        config = config_lib.load(BASELINE, [
            f"--config.learning_rate={lr}", "--config.max_train_steps=20",
            "--config.eval_every_steps=10", "--config.log_every_steps=10"])
        loop.train_and_evaluate(config, root / "trials" / f"{i:04d}", progress=False)
    return root


def _plugin(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    return backend_context.Context(base_plugin.TBContext(
        data_provider=provider, multiplexer=multiplexer, logdir=str(logdir)))


def test_the_hparams_plugin_lists_the_metric_and_the_objective_as_columns(study_dir):
    experiment = get_experiment.Handler(context.RequestContext(), _plugin(study_dir), "",
                                        api_pb2.GetExperimentRequest()).run()
    metrics = [m.name.tag for m in experiment.metric_infos]
    assert metrics == list(loop.tensorboard_metrics("valid/error_rate"))
    assert metrics[:2] == ["valid/error_rate", "best/valid/error_rate"]
    hparams = {h.name for h in experiment.hparam_infos}
    assert {"learning_rate", "optimizer", "model.width", "max_train_steps"} <= hparams


def test_every_trial_is_a_session_with_its_hyperparameters_and_its_objective(study_dir):
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=10,
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS])
    response = list_session_groups.Handler(context.RequestContext(), _plugin(study_dir), "",
                                           request).run()
    sessions = {g.name: g for g in response.session_groups}
    assert sorted(sessions) == ["trials/0000/tensorboard", "trials/0001/tensorboard"]
    for i, lr in enumerate(LEARNING_RATES):
        group = sessions[f"trials/{i:04d}/tensorboard"]
        assert group.hparams["learning_rate"].number_value == pytest.approx(lr)
        values = {m.name.tag: m.value for m in group.metric_values}
        result = trial_files.read_result(os.path.join(study_dir, "trials", f"{i:04d}"))
        assert result.status == "done"
        assert values["best/valid/error_rate"] == pytest.approx(result.best["valid/error_rate"],
                                                                abs=1e-6)
        assert values["valid/error_rate"] == pytest.approx(result.final["valid/error_rate"],
                                                           abs=1e-6)
