"""How does byte-level LM1B validation loss change with the Transformer's depth
(4, 6 or 8 layers of width 512), with the learning rate, b2 and warmup tuned
for each?

    playbook study --config configs/studies/lm1b_depth.py --workdir runs/lm1b_depth

Scientific: `model.depth`. Nuisance: AdamW learning rate, b2, weight decay.
Budget: 6 trials per depth of configs/lm1b_transformer.py (100k steps each).
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="lm1b_depth",
        description="Decoder-only Transformer depth on byte-level LM1B",
        baseline="../lm1b_transformer.py",
        scientific={"model.depth": [4, 6, 8]},
        nuisance={
            "learning_rate": hp.log(2e-4, 3e-3),
            "b2": hp.reverse_log(0.95, 0.999),
            "weight_decay": hp.log(1e-3, 0.1),
        },
        budget=6,
        metric="valid/loss",
    )
