"""Next round's baseline: optimizer=adamw adopted from study 'mnist1d_rounds' (/work/wt/rounds/experiments/rounds/studies/round1)

with the nuisance values of its best trial 0004 (valid/error_rate 0.398).
Evidence: optimizer=adamw (baseline): trial 0004 scored 0.398 when selected (not counted); no done seed reruns

    playbook train --config /work/wt/rounds/experiments/rounds/studies/round1/next_baseline.py --workdir runs/next_baseline
"""

from ml_collections import ConfigDict

CONFIG = {'optimizer': 'adamw',
 'learning_rate': 0.00020361641858124117,
 'weight_decay': 0.0,
 'momentum': 0.9,
 'b1': 0.7015660518715405,
 'b2': 0.999,
 'eps': 1e-08,
 'grad_clip_norm': 0.0,
 'schedule': 'cosine',
 'warmup_steps': 0,
 'warmup_fraction': 0.0,
 'lr_end_factor': 0.0,
 'batch_size': 128,
 'eval_batch_size': 0,
 'max_train_steps': 8000,
 'eval_every_steps': 200,
 'log_every_steps': 100,
 'seed': 0,
 'metric': 'valid/error_rate',
 'checkpoint': {'keep_best': 1},
 'divergence_factor': 10.0,
 'stop_collapsed': True,
 'workload': 'mnist1d',
 'data': {'seed': 0, 'num_valid': 500},
 'model': {'name': 'mlp', 'width': 256, 'depth': 2, 'activation': 'relu', 'dropout': 0.0}}


def get_config() -> ConfigDict:
    return ConfigDict(CONFIG)
