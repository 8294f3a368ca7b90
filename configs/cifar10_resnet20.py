"""CIFAR-10 with the ResNet-20 of He et al. (2016), batch norm over the whole batch.

    playbook train --config configs/cifar10_resnet20.py --workdir runs/cifar10_resnet20

Data: TFDS `cifar10` in ArrayRecord format (prepare once with `tfds build cifar10
--file_format=array_record`; `data.data_dir` points elsewhere than
~/tensorflow_datasets); 45,000 train / 5,000 validation carved by data.seed /
10,000 test. Pad-4 random crops and flips. Without data, train on generated
images of the same shape: `--config.data.source=synthetic`.
Recipe (He et al. 2016, section 4.2): SGD with momentum 0.9, learning rate 0.1,
batch 128, L2 weight decay 1e-4, 64k steps (here cosine decay instead of the
paper's two steps of /10). Expected (paper): 8.75% test error (91.25% accuracy).
ResNet-18 on CIFAR: --config.model.name=resnet --config.model.depth=18
--config.model.stem=cifar --config.model.width=64 (about 95% in the literature).
Hardware: one GPU or TPU chip; not measured here. A 2-core CPU runs this model
at about 60 examples/s (benchmarks/README.md), far too slow for the full run.
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config() -> ConfigDict:
    c = config_lib.training_defaults()
    c.workload = "cifar10"
    c.data = ConfigDict(dict(source="tfds", tfds_name="cifar10", data_dir="", seed=0,
                             num_valid=5000, image_size=32, augment=True, num_workers=0,
                             num_train=1024, num_test=256, noise=1.0, num_classes=10))
    c.model = ConfigDict(dict(name="resnet_cifar", depth=20, width=16, virtual_batch_size=0,
                              bn_momentum=0.9, dtype="float32"))
    c.optimizer = "momentum"
    c.learning_rate = 0.1
    c.momentum = 0.9
    c.weight_decay = 1e-4
    c.batch_size = 128
    c.max_train_steps = 64000
    c.warmup_steps = 0
    c.eval_every_steps = 2000
    c.log_every_steps = 100
    c.distributed = False  # True on multi-host TPU slices (experiments/tpu)
    return c
