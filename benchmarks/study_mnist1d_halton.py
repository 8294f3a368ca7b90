"""The study of benchmarks/study_vs_optuna.py: Nesterov and AdamW on the MNIST-1D MLP,
16 quasi-random (Halton) trials each, 2000 steps at a constant learning rate,
validation error every `eval_every` steps (default 100), best checkpoint kept.

    playbook study --config benchmarks/study_mnist1d_halton.py:100,16 --workdir /tmp/s \\
        --compilation_cache none --no_progress --no_report

The search space is the one the Optuna side samples (`SPACE`).
"""

from playbook import search as hp
from playbook.study import define

# (low, high) of each optimizer's log-uniform learning rate, and of momentum / b1.
SPACE = {"nesterov": {"learning_rate": (1e-3, 1.0), "momentum": (0.8, 0.99)},
         "adamw": {"learning_rate": (1e-4, 3e-2), "b1": (0.8, 0.99)}}
STEPS = 2000


def get_config(arg: str = "100"):
    """`FILE:EVERY[,BUDGET[,STEPS]]`: evaluation every EVERY steps, BUDGET trials per
    optimizer (16), STEPS steps per trial (2000)."""
    parts = arg.split(",")
    every, budget, steps = (int(x) for x in (parts + ["100", "16", str(STEPS)][len(parts):])[:3])
    return define(
        name=f"mnist1d_halton_eval{every}",
        description="nesterov vs adamw on MNIST-1D (MLP), 16 Halton trials each, constant lr",
        baseline="../configs/mnist1d_mlp.py",
        scientific={"optimizer": ["nesterov", "adamw"]},
        nuisance={
            "learning_rate": hp.branches("optimizer", {
                name: hp.log(*space["learning_rate"]) for name, space in SPACE.items()}),
            "momentum": hp.reverse_log(*SPACE["nesterov"]["momentum"],
                                       when={"optimizer": "nesterov"}),
            "b1": hp.reverse_log(*SPACE["adamw"]["b1"], when={"optimizer": "adamw"}),
        },
        fixed={"schedule": "constant", "weight_decay": 0.0, "max_train_steps": steps,
               "eval_every_steps": every, "log_every_steps": every},
        budget=budget,
        metric="valid/error_rate",
    )
