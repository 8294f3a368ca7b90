"""Two-spirals classification with an MLP, written as a Flax example's train.py.

`train_and_evaluate(config, workdir)` trains for `config.num_train_steps`,
writes its metrics through a clu metric writer (TensorBoard event files in
`workdir`; through tensorboardX where TensorFlow, which clu's summary writer
needs, is absent), evaluates on a validation split carved from the training
data every `config.eval_every_steps`, and checkpoints the train state with
orbax in `workdir/checkpoints`, resuming from the latest checkpoint there. The
data is generated from `config.data_seed`, offline. Nothing here knows about
playbook: `experiments/own_trainer/study.py` tunes it as it is.
"""

import os

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging
from clu import metrics
from flax import linen as nn
from flax.training import train_state


def two_spirals(num_examples: int, noise: float, seed: int):
  """Points on two interleaved spirals, labelled by spiral."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, num_examples)
  radius = rng.uniform(0.05, 1.0, num_examples)
  angle = 3.0 * np.pi * radius + np.pi * labels
  points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
  points += noise * rng.normal(size=points.shape)
  return points.astype(np.float32), labels.astype(np.int32)


def get_datasets(config: ml_collections.ConfigDict):
  """Train and validation splits; the validation split is held out from training."""
  inputs, labels = two_spirals(config.num_examples, config.noise, config.data_seed)
  n = config.num_valid
  return (inputs[n:], labels[n:]), (inputs[:n], labels[:n])


class MLP(nn.Module):
  """A multilayer perceptron with ReLU activations."""

  width: int
  depth: int

  @nn.compact
  def __call__(self, x):
    for _ in range(self.depth):
      x = nn.relu(nn.Dense(self.width)(x))
    return nn.Dense(2)(x)


@flax.struct.dataclass
class Metrics(metrics.Collection):
  loss: metrics.Average.from_output('loss')
  accuracy: metrics.Accuracy


def create_train_state(rng, config: ml_collections.ConfigDict) -> train_state.TrainState:
  model = MLP(width=config.width, depth=config.depth)
  params = model.init(rng, jnp.ones([1, 2]))['params']
  schedule = optax.cosine_decay_schedule(config.learning_rate, config.num_train_steps)
  tx = optax.sgd(schedule, momentum=config.momentum, nesterov=True)
  return train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)


@jax.jit
def train_step(state, inputs, labels):
  def loss_fn(params):
    logits = state.apply_fn({'params': params}, inputs)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads)
  return state, Metrics.single_from_model_output(loss=loss, logits=logits, labels=labels)


@jax.jit
def eval_step(state, inputs, labels):
  logits = state.apply_fn({'params': state.params}, inputs)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  return Metrics.single_from_model_output(loss=loss, logits=logits, labels=labels)


class TensorboardXWriter:
  """The part of clu's MetricWriter interface used here, on tensorboardX."""

  def __init__(self, logdir: str):
    import tensorboardX  # pylint: disable=g-import-not-at-top

    self._writer = tensorboardX.SummaryWriter(logdir)

  def write_scalars(self, step, scalars):
    for key, value in scalars.items():
      self._writer.add_scalar(key, float(value), global_step=step)

  def flush(self):
    self._writer.flush()

  def close(self):
    self._writer.close()


def create_writer(workdir: str):
  """clu's default writer, or tensorboardX where clu's TensorFlow writer cannot load."""
  try:
    from clu import metric_writers  # pylint: disable=g-import-not-at-top
  except ImportError:  # clu.metric_writers imports TensorFlow
    return TensorboardXWriter(workdir)
  return metric_writers.create_default_writer(workdir)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> train_state.TrainState:
  """Trains for config.num_train_steps in workdir, resuming from its checkpoints."""
  (train_x, train_y), (valid_x, valid_y) = get_datasets(config)
  writer = create_writer(workdir)
  state = create_train_state(jax.random.PRNGKey(config.seed), config)
  manager = ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
  if manager.latest_step() is not None:
    state = manager.restore(manager.latest_step(),
                            args=ocp.args.StandardRestore(state))
    logging.info('Resuming from step %d', state.step)
  train_metrics = None
  for step in range(int(state.step) + 1, config.num_train_steps + 1):
    # Batches are a function of the step, so a resumed run sees the same data.
    idx = np.random.default_rng([config.seed, step]).choice(
        len(train_y), config.batch_size, replace=False)
    state, batch_metrics = train_step(state, train_x[idx], train_y[idx])
    train_metrics = (batch_metrics if train_metrics is None
                     else train_metrics.merge(batch_metrics))
    if step % config.log_every_steps == 0:
      writer.write_scalars(step, {f'train_{k}': v for k, v in
                                  train_metrics.compute().items()})
      train_metrics = None
    if step % config.eval_every_steps == 0 or step == config.num_train_steps:
      eval_metrics = eval_step(state, valid_x, valid_y).compute()
      writer.write_scalars(step, {f'eval_{k}': v for k, v in eval_metrics.items()})
      manager.save(step, args=ocp.args.StandardSave(state))
  manager.wait_until_finished()
  manager.close()
  writer.flush()
  writer.close()
  return state
