"""Round 5, drafted by `playbook next` from study 'mnist1d_rounds_round4'
in studies/round4: 2 change(s), each with the finding behind it
in a comment above it. Run it with

    playbook study --config experiments/rounds/round5.py --workdir runs/mnist1d_rounds_round5
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name='mnist1d_rounds_round5',
        description='AdamW on MNIST-1D (MLP): learning rate and b1, a poor first round',
        # decision: baseline: optimizer=adamw with the nuisance values of trial 0008.
        # adopted on 2026-12-02T04:04:21+00:00 (valid/error_rate 0.344; verdict
        # baseline).
        baseline='round5_baseline.py',
        scientific={
            'optimizer': ['adamw'],
        },
        nuisance={
            'learning_rate': hp.log(3e-05, 0.03),
        },
        fixed={
            'b1': 0.9922,
            'eval_every_steps': 200,
            'log_every_steps': 100,
            'max_train_steps': 8000,
        },
        budget=10,
        # search_space: designer: halton -> bayesopt. no boundary or instability finding
        # is left: the search space is good, exploit it.
        designer='bayesopt',
        metric='valid/error_rate',
        goal='minimize',
        # new_round: seed: 3 -> 4. fresh quasi-random points; the same seed repeats the
        # last round's points wherever a range stayed.
        seed=4,
        previous={
            'study': 'studies/round4',
            'round': 5,
            'changes': [
                {
                    'section': 'baseline', 'key': 'baseline', 'finding': 'decision', 'kept': False,
                    'change': 'optimizer=adamw with the nuisance values of trial 0008',
                    'reason': ('adopted on 2026-12-02T04:04:21+00:00 (valid/error_rate 0.344; '
                               'verdict baseline)'),
                },
                {
                    'section': 'designer', 'key': 'designer', 'finding': 'search_space',
                    'kept': False,
                    'change': 'halton -> bayesopt',
                    'reason': ('no boundary or instability finding is left: the search space is '
                               'good, exploit it'),
                },
                {
                    'section': 'seed', 'key': 'seed', 'finding': 'new_round', 'kept': False,
                    'change': '3 -> 4',
                    'reason': ("fresh quasi-random points; the same seed repeats the last round's"
                               ' points wherever a range stayed'),
                },
            ],
        },
    )
