"""Does ghost batch norm (statistics over virtual batches of 32) beat batch norm
over the whole batch of 128 for ResNet-20 on CIFAR-10, once the learning rate,
momentum and weight decay are tuned for each?

    playbook study --config configs/studies/cifar10_ghost_batch_norm.py \
        --workdir runs/cifar10_ghost_batch_norm

Scientific: `model.virtual_batch_size` (0: the whole batch; 32). Nuisance:
learning rate, momentum, L2 weight decay (Playbook: "Batch normalization
implementation details" names the virtual batch size as a hyperparameter).
Budget: 8 trials per value of the 64k-step baseline (configs/cifar10_resnet20.py);
on one GPU, plan on a day; a short trial with --config overrides of
max_train_steps first if the budget is tight.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="cifar10_ghost_batch_norm",
        description="ResNet-20 on CIFAR-10: ghost batch norm (32) vs whole-batch statistics",
        baseline="../cifar10_resnet20.py",
        scientific={"model.virtual_batch_size": [0, 32]},
        nuisance={
            "learning_rate": hp.log(0.02, 1.0),
            "momentum": hp.reverse_log(0.8, 0.99),
            "weight_decay": hp.log(1e-5, 1e-3),
        },
        budget=8,
        metric="valid/error_rate",
    )
