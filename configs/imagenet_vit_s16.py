"""ImageNet (ILSVRC 2012) with ViT-S/16 (global average pooling), bfloat16 compute.

    playbook train --config configs/imagenet_vit_s16.py --workdir gs://BUCKET/runs/vit_s16 \
        --config.data.data_dir=gs://BUCKET/tensorflow_datasets

Data as in configs/imagenet_resnet50.py (same workload, another model).
Recipe (Beyer et al. 2022, "Better plain ViT baselines", big_vision
vit_s16_i1k): AdamW, learning rate 1e-3, b2 0.999, decoupled weight decay 1e-4
(0.1 in optax's convention, which multiplies it by the learning rate), 10k
warmup steps, cosine, gradient clipping at 1, batch 1024, 90 epochs.
Expected (paper): 76.5% top-1 after 90 epochs, but with RandAugment and MixUp,
which playbook does not implement; with Inception crops and flips only, expect
several points less. Hardware: big_vision reports ~7 h on a TPU v3-8; not
measured here.
"""

from ml_collections import ConfigDict

from playbook import config as config_lib


def get_config() -> ConfigDict:
    c = config_lib.training_defaults()
    c.workload = "imagenet"
    c.data = ConfigDict(dict(source="tfds", tfds_name="imagenet2012", data_dir="", seed=0,
                             num_valid=10000, image_size=224, augment=True, num_workers=0,
                             num_train=512, num_test=128, noise=1.0, num_classes=1000))
    c.model = ConfigDict(dict(name="vit", patch_size=16, width=384, depth=12, num_heads=6,
                              mlp_dim=1536, pool="gap", dropout=0.0, dtype="bfloat16"))
    c.optimizer = "adamw"
    c.learning_rate = 1e-3
    c.b2 = 0.999
    c.weight_decay = 0.1
    c.grad_clip_norm = 1.0
    c.batch_size = 1024
    c.eval_batch_size = 1024
    c.max_train_steps = 112600
    c.warmup_steps = 10000
    c.eval_every_steps = 2500
    c.log_every_steps = 100
    c.distributed = False  # True on multi-host TPU slices (experiments/tpu)
    return c
