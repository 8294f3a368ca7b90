"""The `playbook` command: parses arguments and calls the library.

Each subcommand is a thin shell over a library function; nothing here decides
anything about training or studies. Configuration errors are printed as one
line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from playbook.errors import ConfigError

EXIT_CONFIG_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playbook",
        description="The Deep Learning Tuning Playbook as a framework: studies of scientific "
                    "hyperparameters with nuisance ones optimised, trials with retrospective "
                    "checkpoint selection, and their analysis.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train = sub.add_parser(
        "train", help="train one trial from a config file",
        description="Train one trial. Override config keys with --config.KEY=VALUE.")
    train.add_argument("--config", required=True, help="config file (FILE or FILE:ARG)")
    train.add_argument("--workdir", required=True, help="trial directory (created; resumed)")

    study = sub.add_parser(
        "study", help="create or resume a study and run its trials",
        description="Create or resume a study from a study config. Override study keys with "
                    "--config.KEY=VALUE.")
    study.add_argument("--config", required=True, help="study config file (configs/studies/*.py)")
    study.add_argument("--workdir", required=True, help="study directory")
    study.add_argument("--dry_run", action="store_true",
                       help="print the trials (scientific and nuisance values) without training")
    study.add_argument("--format", choices=("text", "json"), default="text",
                       help="output format of --dry_run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    bad = [a for a in extra if not a.startswith("--config.")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} "
                     f"(config overrides look like --config.KEY=VALUE)")
    try:
        if args.command == "train":
            from playbook.train import main as train_main
            return train_main.run(args.config, extra, args.workdir)
        if args.command == "study":
            return _study(args, extra)
    except ConfigError as e:
        print(f"playbook: error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    parser.error(f"unknown command {args.command}")
    return EXIT_CONFIG_ERROR


def _study(args: argparse.Namespace, overrides: Sequence[str]) -> int:
    from playbook.study.spec import StudySpec

    spec = StudySpec.load(args.config, overrides)
    if args.dry_run:
        designer = spec.new_designer()
        trials = spec.trials(designer.suggest(spec.budget))
        if args.format == "json":
            print(json.dumps([t.to_dict() for t in trials], indent=1))
        else:
            print(_trials_table(spec, trials))
        return 0
    raise ConfigError("running a study is not available in this version; use --dry_run")


def _trials_table(spec, trials) -> str:
    lines = [f"# study '{spec.name}': {len(trials)} trials "
             f"({spec.budget} per scientific value), metric {spec.metric} ({spec.goal}), "
             f"designer {spec.designer}, seed {spec.seed}"]
    for trial in trials:
        sci = " ".join(f"{k}={_fmt(v)}" for k, v in trial.scientific.items())
        nui = " ".join(f"{k}={_fmt(v)}" for k, v in trial.nuisance.items())
        lines.append(f"{trial.trial_id}  {sci}  |  {nui}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
