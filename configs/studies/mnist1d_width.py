"""How does validation error on MNIST-1D change with the MLP's hidden width,
with the learning rate and weight decay tuned for each width?

    playbook study --config configs/studies/mnist1d_width.py --workdir runs/mnist1d_width

Scientific: `model.width`. Nuisance: AdamW's learning rate and weight decay.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="mnist1d_width",
        description="MLP hidden width on MNIST-1D, nuisance: lr, wd (AdamW)",
        baseline="../mnist1d_mlp.py",
        scientific={"model.width": [64, 128, 256, 512]},
        nuisance={
            "learning_rate": hp.log(1e-4, 3e-2),
            "weight_decay": hp.log(1e-6, 1e-2),
        },
        budget=5,
        metric="valid/error_rate",
    )
