"""ImageNet (ILSVRC 2012) with ResNet-50, bfloat16 compute, ghost batch norm off.

    playbook train --config configs/imagenet_resnet50.py --workdir gs://BUCKET/runs/rn50 \
        --config.data.data_dir=gs://BUCKET/tensorflow_datasets

Data: TFDS `imagenet2012` in ArrayRecord format. TFDS cannot download ImageNet:
put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in MANUAL_DIR and run
`tfds build imagenet2012 --manual_dir=MANUAL_DIR --file_format=array_record`.
Splits: 1,271,167 train / a 10,000-image minival carved by data.seed / the
50,000 official validation images as test. Inception crops and flips at 224.
Without data: `--config.data.source=synthetic` (generated 224x224 images).
Recipe (Goyal et al. 2017): Nesterov momentum 0.9, learning rate 0.1 per 256
examples (0.4 at batch 1024), 5 warmup epochs, L2 weight decay 1e-4, 90 epochs
(112,600 steps at batch 1024); cosine decay instead of steps. Expected
(literature): 76.3% top-1 (error 0.237) on the official validation images.
Hardware: a TPU v4-8 or 8 GPUs with `distributed` for multi-host slices (see
experiments/tpu/); not measured here. The host input pipeline decodes JPEGs in
threads (`data.num_workers`); see benchmarks/README.md for its limits.
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config() -> ConfigDict:
    c = config_lib.training_defaults()
    c.workload = "imagenet"
    c.data = ConfigDict(dict(source="tfds", tfds_name="imagenet2012", data_dir="", seed=0,
                             num_valid=10000, image_size=224, augment=True, num_workers=0,
                             num_train=512, num_test=128, noise=1.0, num_classes=1000))
    c.model = ConfigDict(dict(name="resnet", depth=50, width=64, stem="imagenet",
                              virtual_batch_size=0, bn_momentum=0.9, dtype="bfloat16"))
    c.optimizer = "nesterov"
    c.learning_rate = 0.4
    c.momentum = 0.9
    c.weight_decay = 1e-4
    c.batch_size = 1024
    c.eval_batch_size = 1024
    c.max_train_steps = 112600
    c.warmup_steps = 6255  # 5 epochs
    c.eval_every_steps = 2500
    c.log_every_steps = 100
    c.distributed = False  # True on multi-host TPU slices (experiments/tpu)
    return c
