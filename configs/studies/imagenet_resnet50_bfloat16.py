"""Does bfloat16 computation cost ResNet-50 validation error on ImageNet, once
the learning rate and weight decay are tuned for each precision?

    playbook study --config configs/studies/imagenet_resnet50_bfloat16.py \
        --workdir gs://BUCKET/studies/imagenet_resnet50_bfloat16

(experiments/tpu/README.md runs it on a TPU VM.)

Scientific: `model.dtype` (float32, bfloat16; parameters and optimizer state are
float32 in both). Nuisance: learning rate and L2 weight decay. The expected
answer from the literature is "no measurable difference" (mixed precision
ResNet-50 reaches 76%+ top-1 in MLPerf), at about twice the throughput.
Budget: 4 trials per value of the 90-epoch baseline (configs/imagenet_resnet50.py),
several hours each on a TPU v4-8.
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name="imagenet_resnet50_bfloat16",
        description="ResNet-50 on ImageNet: float32 vs bfloat16 computation",
        baseline="../imagenet_resnet50.py",
        scientific={"model.dtype": ["float32", "bfloat16"]},
        nuisance={
            "learning_rate": hp.log(0.1, 1.6),
            "weight_decay": hp.log(2e-5, 2e-4),
        },
        budget=4,
        metric="valid/error_rate",
    )
