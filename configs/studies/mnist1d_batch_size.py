"""How many steps does MNIST-1D need to reach a validation error goal at each
batch size, with Nesterov's learning rate and momentum re-tuned for each one?
(Shallue et al. 2018, "Measuring the effects of data parallelism".)

    playbook study --config configs/studies/mnist1d_batch_size.py --workdir runs/mnist1d_batch_size
    playbook steps-to-result runs/mnist1d_batch_size --goal 0.45 --out runs/mnist1d_batch_size/scaling

Scientific: `batch_size`, doubling from 16 to 1024. Nuisance: the learning
rate and momentum, searched anew for every batch size (paired quasi-random
points; Playbook: re-tune the optimizer after a batch-size change; the best
learning rate follows no simple scaling rule). Fixed: a step budget of 1000
steps for every batch size (Playbook: compare batch sizes under a step
budget), a constant learning rate and no regularisation, so that any shorter
budget can be read off the logged curves exactly (`scaling.budget_comparison`),
and an evaluation every 20 steps, the resolution of steps to result.
Measured on 2 shared CPU cores: 84 trials in 12 min 46 s (6 min 37 s of CPU time);
results in docs/SCALING.md.
"""

from playbook import search as hp
from playbook.study import define

BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]


def get_config(batch_sizes: str = ""):
    """`FILE:64,128` studies only those batch sizes (e.g. a denser re-search of two)."""
    sizes = [int(b) for b in batch_sizes.split(",")] if batch_sizes else BATCH_SIZES
    return define(
        name="mnist1d_batch_size",
        description="steps to result vs batch size on MNIST-1D (MLP, Nesterov), "
                    "nuisance: lr, momentum",
        baseline="../mnist1d_mlp.py",
        scientific={"batch_size": sizes},
        nuisance={
            "learning_rate": hp.log(1e-3, 1.0),
            "momentum": hp.reverse_log(0.8, 0.99),
        },
        fixed={
            "optimizer": "nesterov",
            "schedule": "constant",
            "weight_decay": 0.0,
            "max_train_steps": 1000,
            "eval_every_steps": 20,
            "log_every_steps": 20,
        },
        budget=12,
        metric="valid/error_rate",
    )
