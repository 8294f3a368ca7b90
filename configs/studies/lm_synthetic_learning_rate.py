"""A language model scored by its validation loss, with a learning-rate range wide
enough to reach both chance ends: too small to learn in the budget, and so large
that training never leaves chance (Markov-chain tokens, generated offline; a
one-layer Transformer; a minute or two on 2 CPU cores).

    playbook study --config configs/studies/lm_synthetic_learning_rate.py \\
        --workdir runs/lm_synthetic_learning_rate

The chance level of `valid/loss` is the entropy of the training tokens' unigram
frequencies (playbook.train.collapse): a trial that ends there learned nothing,
whatever its curve did first, and is recorded `diverged: at_chance`
(docs/VALIDITY.md section 1 has the measured table).
"""

from ml_collections import ConfigDict

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        baseline="../lm1b_transformer.py",
        scientific={"model.width": [32, 64]},
        nuisance={"learning_rate": hp.log(1e-5, 10.0)},
        fixed={
            "data": ConfigDict(dict(source="synthetic", seed=0, seq_len=32, num_valid=128,
                                    num_workers=0, vocab_size=64, num_train=2048,
                                    num_test=128, follow=0.8, tfds_name="lm1b",
                                    text_key="text", data_dir="")),
            "model.depth": 1, "model.num_heads": 2, "model.mlp_dim": 64, "model.max_len": 32,
            "model.dtype": "float32", "optimizer": "adam", "grad_clip_norm": 0.0,
            "weight_decay": 0.0, "warmup_steps": 0, "batch_size": 32, "schedule": "constant",
            "max_train_steps": 600, "eval_every_steps": 100, "log_every_steps": 25,
        },
        budget=8,
        metric="valid/loss",
    )
