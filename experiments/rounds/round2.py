"""Round 2, drafted by `playbook next` from study 'mnist1d_rounds'
in studies/round1: 3 change(s), each with the finding behind it
in a comment above it. Run it with

    playbook study --config experiments/rounds/round2.py --workdir runs/mnist1d_rounds_round2
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name='mnist1d_rounds_round2',
        description='AdamW on MNIST-1D (MLP): learning rate and b1, a poor first round',
        # decision: baseline: optimizer=adamw with the nuisance values of trial 0004.
        # adopted on 2026-12-02T03:59:06+00:00 (valid/error_rate 0.398; verdict
        # baseline).
        baseline='round2_baseline.py',
        scientific={
            'optimizer': ['adamw'],
        },
        nuisance={
            # boundary: b1: reverse_log [0.5, 0.95] -> reverse_log [0.5, 0.995]. best
            # trial(s) at 0.947 near the high bound 0.95; expanded one step of its
            # scale.
            'b1': hp.reverse_log(0.5, 0.995),
            # boundary: learning_rate: log [3e-05, 0.0003] -> log [3e-05, 0.003].
            # best trial(s) at 0.000263 near the high bound 0.0003; expanded one step
            # of its scale.
            'learning_rate': hp.log(3e-05, 0.003),
        },
        fixed={
            'eval_every_steps': 200,
            'log_every_steps': 100,
            'max_train_steps': 8000,
        },
        budget=10,
        designer='halton',
        metric='valid/error_rate',
        goal='minimize',
        # new_round: seed: 0 -> 1. fresh quasi-random points; the same seed repeats the
        # last round's points wherever a range stayed.
        seed=1,
        previous={
            'study': 'studies/round1',
            'round': 2,
            'changes': [
                {
                    'section': 'baseline', 'key': 'baseline', 'finding': 'decision', 'kept': False,
                    'change': 'optimizer=adamw with the nuisance values of trial 0004',
                    'reason': ('adopted on 2026-12-02T03:59:06+00:00 (valid/error_rate 0.398; '
                               'verdict baseline)'),
                },
                {
                    'section': 'nuisance', 'key': 'b1', 'finding': 'boundary', 'kept': False,
                    'change': 'reverse_log [0.5, 0.95] -> reverse_log [0.5, 0.995]',
                    'reason': ('best trial(s) at 0.947 near the high bound 0.95; expanded one '
                               'step of its scale'),
                },
                {
                    'section': 'nuisance', 'key': 'learning_rate', 'finding': 'boundary',
                    'kept': False,
                    'change': 'log [3e-05, 0.0003] -> log [3e-05, 0.003]',
                    'reason': ('best trial(s) at 0.000263 near the high bound 0.0003; expanded '
                               'one step of its scale'),
                },
                {
                    'section': 'seed', 'key': 'seed', 'finding': 'new_round', 'kept': False,
                    'change': '0 -> 1',
                    'reason': ("fresh quasi-random points; the same seed repeats the last round's"
                               ' points wherever a range stayed'),
                },
            ],
        },
    )
