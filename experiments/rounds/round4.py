"""Round 4, drafted by `playbook next` from study 'mnist1d_rounds_round3'
in studies/round3: 2 change(s), each with the finding behind it
in a comment above it. Run it with

    playbook study --config experiments/rounds/round4.py --workdir runs/mnist1d_rounds_round4
"""

from playbook import search as hp
from playbook.study import define


def get_config():
    return define(
        name='mnist1d_rounds_round4',
        description='AdamW on MNIST-1D (MLP): learning rate and b1, a poor first round',
        # decision: baseline: optimizer=adamw with the nuisance values of trial 0001.
        # adopted on 2026-12-02T04:02:48+00:00 (valid/error_rate 0.344; verdict
        # baseline).
        baseline='round4_baseline.py',
        scientific={
            'optimizer': ['adamw'],
        },
        nuisance={
            # boundary: learning_rate: log [3e-05, 0.003] -> log [3e-05, 0.03]. best
            # trial(s) at 0.00195, 0.0026 near the high bound 0.003; expanded one
            # step of its scale.
            'learning_rate': hp.log(3e-05, 0.03),
        },
        fixed={
            'b1': 0.9922,
            'eval_every_steps': 200,
            'log_every_steps': 100,
            'max_train_steps': 8000,
        },
        budget=10,
        designer='halton',
        metric='valid/error_rate',
        goal='minimize',
        # new_round: seed: 2 -> 3. fresh quasi-random points; the same seed repeats the
        # last round's points wherever a range stayed.
        seed=3,
        previous={
            'study': 'studies/round3',
            'round': 4,
            'changes': [
                {
                    'section': 'baseline', 'key': 'baseline', 'finding': 'decision', 'kept': False,
                    'change': 'optimizer=adamw with the nuisance values of trial 0001',
                    'reason': ('adopted on 2026-12-02T04:02:48+00:00 (valid/error_rate 0.344; '
                               'verdict baseline)'),
                },
                {
                    'section': 'nuisance', 'key': 'learning_rate', 'finding': 'boundary',
                    'kept': False,
                    'change': 'log [3e-05, 0.003] -> log [3e-05, 0.03]',
                    'reason': ('best trial(s) at 0.00195, 0.0026 near the high bound 0.003; '
                               'expanded one step of its scale'),
                },
                {
                    'section': 'seed', 'key': 'seed', 'finding': 'new_round', 'kept': False,
                    'change': '2 -> 3',
                    'reason': ("fresh quasi-random points; the same seed repeats the last round's"
                               ' points wherever a range stayed'),
                },
            ],
        },
    )
