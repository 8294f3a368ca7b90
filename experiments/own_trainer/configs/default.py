"""Default hyperparameters of the two-spirals trainer (train.py)."""

import ml_collections


def get_config():
  """Get the default hyperparameter configuration."""
  config = ml_collections.ConfigDict()
  config.learning_rate = 0.1
  config.momentum = 0.9
  config.width = 64
  config.depth = 2
  config.batch_size = 64
  config.num_train_steps = 600
  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.seed = 0
  config.num_examples = 2560
  config.num_valid = 512
  config.noise = 0.08
  config.data_seed = 0
  return config
