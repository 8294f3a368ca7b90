"""Global average pooling or a class token for ViT-S/16 on ImageNet, with the
learning rate and weight decay tuned for each?

    playbook study --config configs/studies/imagenet_vit_pooling.py \
        --workdir gs://BUCKET/studies/imagenet_vit_pooling

Scientific: `model.pool` (gap, cls). Nuisance: AdamW learning rate and weight
decay. Beyer et al. (2022) found global average pooling better by about a
point at 90 epochs. Budget: 4 trials per value of configs/imagenet_vit_s16.py.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="imagenet_vit_pooling",
        description="ViT-S/16 on ImageNet: global average pooling vs class token",
        baseline="../imagenet_vit_s16.py",
        scientific={"model.pool": ["gap", "cls"]},
        nuisance={
            "learning_rate": hp.log(3e-4, 3e-3),
            "weight_decay": hp.log(0.01, 0.3),
        },
        budget=4,
        metric="valid/error_rate",
    )
