"""The `playbook` command: parses arguments and calls the library.

Each subcommand is a thin shell over a library function; nothing here decides
anything about training or studies. Configuration errors are printed as one
line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Sequence

from playbook import interrupts
from playbook.errors import ConfigError, check_directory, storage_fault
from playbook.goal import GOALS

EXIT_CONFIG_ERROR = 2
EXIT_STORAGE_ERROR = 3  # the study directory cannot be written (full, read-only)
# Commands that read one study directory (`serve` also takes a directory of studies).
STUDY_DIR_COMMANDS = ("status", "rerun", "report", "compare", "adopt", "next", "history",
                      "export", "steps-to-result", "max-train-steps")


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
    _executor_args(study)
    study.add_argument("--retry_failed", action="store_true",
                       help="run trials recorded as failed again")
    study.add_argument("--no_report", action="store_true",
                       help="do not write the report and findings when the study ends")

    status = sub.add_parser("status", help="counts of trials per scientific value, best so far")
    status.add_argument("study_dir")

    rerun = sub.add_parser(
        "rerun", help="rerun the best trials with new seeds to measure trial variance")
    rerun.add_argument("study_dir")
    rerun.add_argument("--top", type=_positive, default=1,
                       help="best trials per scientific value")
    rerun.add_argument("--seeds", type=_positive, default=3, help="new seeds per trial")
    _executor_args(rerun)
    rerun.add_argument("--no_report", action="store_true",
                       help="do not write the report again when the reruns end")

    report = sub.add_parser(
        "report", help="write STUDY_DIR/report/index.html and print the findings")
    report.add_argument("study_dir")
    compare = sub.add_parser(
        "compare", help="each scientific value against the baseline's, beyond trial variance?")
    compare.add_argument("study_dir")
    adopt = sub.add_parser(
        "adopt", help="record a decision and write the next round's baseline config")
    adopt.add_argument("study_dir")
    adopt.add_argument("--value", nargs="+", required=True, metavar="KEY=VALUE",
                       help="the scientific value adopted, e.g. --value optimizer=adamw")
    draft = sub.add_parser(
        "next", help="draft the next round's study config from the findings",
        description="Writes the next round's study config (default STUDY_DIR/next_study.py) "
                    "and its baseline beside it, each change commented with the finding behind "
                    "it, and prints the changes.")
    draft.add_argument("study_dir")
    draft.add_argument("--out", default=None, help="the study config to write "
                                                   "(default STUDY_DIR/next_study.py)")
    draft.add_argument("--adopt", nargs="+", default=(), metavar="KEY=VALUE",
                       help="adopt a scientific value as the new baseline first (as "
                            "`playbook adopt`); default: the latest decision, if any")
    history = sub.add_parser("history", help="the chain of rounds a study belongs to")
    history.add_argument("study_dir")
    _scaling_parsers(sub)
    _dashboard_parsers(sub)
    return parser


def _dashboard_parsers(sub) -> None:
    serve = sub.add_parser(
        "serve", help="a live, read-only web dashboard of a study or a directory of studies",
        description="Serves a live view of the study directory (progress, findings, "
                    "interactive figures, trials) until interrupted; it only reads the study.")
    serve.add_argument("study_dir", help="a study directory, or a directory of studies")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1: this machine only)")
    export = sub.add_parser("export", help="print or write the trials table (CSV, JSON, Parquet)")
    export.add_argument("study_dir")
    export.add_argument("--format", choices=("csv", "json", "parquet"), default=None,
                        help="default: the extension of --out, else csv (parquet needs pyarrow)")
    export.add_argument("--out", help="file to write; none or '-': standard output (csv, json)")


def _positive(text: str) -> int:
    """An argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive integer (e.g. 2)")
    return value


def _executor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("inline", "processes", "ray"), default="inline",
                        help="where trials run: in this process, in local worker processes "
                             "(one per GPU, or --workers CPU workers), or on a Ray cluster")
    parser.add_argument("--workers", type=_positive, default=None,
                        help="worker processes (processes) or local Ray CPUs (ray)")
    parser.add_argument("--ray_address", default=None,
                        help="address of an existing Ray cluster (default: start a local one)")
    parser.add_argument("--cpus_per_trial", type=float, default=1.0, help="Ray CPUs per trial")
    parser.add_argument("--gpus_per_trial", type=float, default=0.0, help="Ray GPUs per trial")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    parser.add_argument("--trials_per_program", default="1", metavar="K|auto",
                        help="train up to K trials of the same structure together in one "
                             "compiled program (vmap); 'auto' sizes K from the device")
    parser.add_argument("--trial_timeout", type=float, default=None, metavar="SECONDS",
                        help="stop a trial running longer and record it failed (reason "
                             "timeout); overrides the study config's trial_timeout for this run")
    parser.add_argument("--compilation_cache", default=None, metavar="DIR|none",
                        help="JAX's persistent compilation cache (default: "
                             "$PLAYBOOK_COMPILATION_CACHE or ~/.cache/playbook/jax; "
                             "'none' turns it off)")


def main(argv: Sequence[str] | None = None) -> int:
    from_shell = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if from_shell:
        interrupts.install(f"playbook: {_interrupted(args, argv)}")
    bad = [a for a in extra if not a.startswith("--config.")]
    if bad:
        hint = ("config overrides look like --config.KEY=VALUE"
                if args.command in ("train", "study", "batch-sizes")
                else f"see playbook {args.command} --help")
        parser.error(f"unrecognized arguments: {' '.join(bad)} ({hint})")
    try:
        if args.command in ("train", "study", "rerun"):  # trackers asked for must exist
            from playbook.train import trackers

            trackers.names()
        if hasattr(args, "trials_per_program"):  # checked before anything is written
            from playbook.train.group_size import parse_trials_per_program

            args.trials_per_program = parse_trials_per_program(args.trials_per_program)
        if getattr(args, "trial_timeout", None) is not None:  # before anything is written
            from playbook.study.spec_parse import parse_trial_timeout

            parse_trial_timeout(args.trial_timeout, flag=True)
        if args.command == "train":
            from playbook.train import main as train_main
            return train_main.run(args.config, extra, args.workdir)
        if args.command == "study":
            return _study(args, extra)
        if args.command in STUDY_DIR_COMMANDS:
            from playbook.study.store import StudyStore

            StudyStore(args.study_dir).read_study()  # before the slow imports of each command
        if args.command in SCALING_COMMANDS:
            return _scaling(parser, args, extra)
        if extra:
            parser.error(f"{args.command} takes no --config overrides")
        if args.command == "status":
            from playbook.study import commands

            return commands.status(args.study_dir)
        if args.command == "serve":
            from playbook.dashboard import server

            return server.serve(args.study_dir, args.host, args.port)
        if args.command == "export":
            return _export(args)
        if args.command == "rerun":
            return _rerun(args)
        if args.command in ("report", "compare", "adopt", "next", "history"):
            from playbook.analysis import commands

            if args.command == "adopt":
                return commands.adopt(args.study_dir, args.value)
            if args.command == "next":
                return commands.next_round(args.study_dir, args.out, args.adopt)
            return getattr(commands, args.command)(args.study_dir)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
        print(f"playbook: {interrupts.said(_interrupted(args, argv))}", file=sys.stderr)
        if from_shell:
            interrupts.exit_now()
        return interrupts.exit_status()
    except BrokenPipeError:  # the reader left early (`| head`): end as SIGPIPE would, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except ConfigError as e:
        # Messages quote user text verbatim; a line break in it must not split the line.
        message = "\\n".join(str(e).splitlines())
        print(f"playbook: error: {message}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except Exception as e:
        fault = storage_fault(e)
        if fault is None:
            raise
        where = f"'{fault.filename}'" if fault.filename else "the study directory"
        print(f"playbook: error: cannot write {where}: {fault.strerror}; finished trials are "
              f"kept and unfinished ones resume: free space or fix permissions, then run the "
              f"same command again", file=sys.stderr)
        return EXIT_STORAGE_ERROR
    parser.error(f"unknown command {args.command}")
    return EXIT_CONFIG_ERROR


def _interrupted(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """The one line a Ctrl-C prints: what is kept on disk and the command that resumes."""
    again = shlex.join(["playbook", *argv])
    if args.command == "train":
        return (f"interrupted; the trial's checkpoints in {args.workdir} are kept: resume "
                f"from the latest with: {again}")
    if args.command in ("study", "rerun") and not getattr(args, "dry_run", False):
        where = getattr(args, "workdir", None) or args.study_dir
        return (f"interrupted; finished trials in {where} are kept and unfinished ones resume "
                f"from their latest checkpoint with: {again}")
    return "interrupted; nothing was left half-written"


def _study(args: argparse.Namespace, overrides: Sequence[str]) -> int:
    from playbook.study import runner
    from playbook.study.spec import StudySpec
    from playbook.study.store import StudyStore

    check_directory(args.workdir)
    spec = StudySpec.load(args.config, overrides)
    store = StudyStore(args.workdir)
    if args.dry_run:
        from playbook.study import commands

        return commands.dry_run(store, spec, args.format)
    spec = runner.prepare(store, spec, runner.source(args.config, overrides))
    if args.retry_failed:
        runner.reset_failed(store, spec)
    _execute(store, spec, args)
    from playbook.study import commands as study_commands

    print(study_commands.best_table(store, spec))
    startup = _startup_line(store)
    if startup:
        print(startup)
    if not args.no_report:
        from playbook.analysis import commands

        with store.study_lock():  # Another runner may be finishing the same study.
            commands.report(store.root)
    return 0


def _execute(store, spec, args) -> None:
    from playbook.study import executors, runner
    from playbook.study.progress import ProgressBar
    trials_per_program = args.trials_per_program
    cache = _compilation_cache(args.compilation_cache)
    timeout = args.trial_timeout if args.trial_timeout is not None else spec.trial_timeout
    executor = executors.create(args.executor, workers=args.workers, address=args.ray_address,
                                num_cpus=args.cpus_per_trial, num_gpus=args.gpus_per_trial,
                                timeout=timeout)
    if args.no_progress:
        runner.run(store, spec, executor, trials_per_program=trials_per_program,
                   compilation_cache=cache)
    else:
        with ProgressBar(store, spec):
            runner.run(store, spec, executor, trials_per_program=trials_per_program,
                       compilation_cache=cache)


def _compilation_cache(flag: str | None) -> str | None:
    value = flag or os.environ.get("PLAYBOOK_COMPILATION_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "playbook", "jax")
    return None if value.lower() == "none" else os.path.abspath(value)


def _startup_line(store) -> str | None:
    """Seconds from a trial's start to its first step, over the study's finished trials."""
    import math
    import statistics

    from playbook import trial_files

    seconds = []
    for trial_id in store.trial_ids():  # result.json directly: no pandas for one line
        result = trial_files.read_result(store.trial_dir(trial_id))
        value = result.throughput.first_step_seconds if result else math.nan
        if math.isfinite(value):
            seconds.append(float(value))
    if not seconds:
        return None
    return (f"time to first step over {len(seconds)} trials: median "
            f"{statistics.median(seconds):.2f} s, slowest {max(seconds):.2f} s (a process's "
            f"first trial of a structure compiles; later ones reuse its programs)")


def _export(args) -> int:
    from playbook.analysis import export

    fmt, out = export.destination(args.format, args.out)
    if out is None:  # a text format, to standard output
        return export.print_table(args.study_dir, fmt)
    print(f"wrote {export.export(args.study_dir, fmt, out)}")
    return 0


def _rerun(args) -> int:
    from playbook.study import runner
    from playbook.study.store import StudyStore

    store = StudyStore(args.study_dir)
    spec = runner.load_spec(store)
    created = runner.rerun(store, spec, args.top, args.seeds)
    print(f"{len(created)} seed reruns added: {' '.join(created) if created else '(none new)'}")
    _execute(store, spec, args)
    if not args.no_report:  # as the study command: the report counts the reruns too
        from playbook.analysis import commands as analysis_commands

        with store.study_lock():
            analysis_commands.report(store.root, findings=False)
    from playbook.study import commands

    print(commands.seed_spread(store, spec))
    print(f"compare the scientific values beyond this variance: "
          f"{shlex.join(['playbook', 'compare', store.root])}")
    return 0


# -- batch size and training duration (playbook/analysis/scaling.py,
#    playbook/train/throughput_sweep.py) ---------------------------------------------------

SCALING_COMMANDS = ("batch-sizes", "steps-to-result", "max-train-steps")


def _scaling_parsers(sub) -> None:
    sizes = sub.add_parser(
        "batch-sizes", help="training throughput per batch size, doubling until it stops helping",
        description="Doubles the batch size of a baseline config until memory runs out, the "
                    "training split is exceeded or examples/s stop growing; prints examples/s "
                    "per batch size and the largest useful one. Override config keys with "
                    "--config.KEY=VALUE.")
    sizes.add_argument("--config", required=True, help="baseline config file (configs/*.py)")
    sizes.add_argument("--start", type=int, default=8, help="first batch size (default 8)")
    sizes.add_argument("--max_batch_size", type=int, default=None,
                       help="largest batch size to try (default: until another stop)")
    sizes.add_argument("--min_gain", type=float, default=0.1,
                       help="smallest examples/s gain per doubling that counts (default 0.1)")
    sizes.add_argument("--patience", type=int, default=2,
                       help="doublings without that gain before stopping (default 2)")
    sizes.add_argument("--seconds", type=float, default=0.5,
                       help="seconds per timed round; each rate is the fastest of 3 rounds "
                            "(default 0.5)")

    result = sub.add_parser(
        "steps-to-result", help="steps to reach a goal per batch size, regimes, best learning "
                                "rates (Shallue et al. 2018)")
    result.add_argument("study_dir")
    result.add_argument("--goal", type=float, required=True,
                        help="goal value of the metric, e.g. --goal 0.45 for valid/error_rate")
    result.add_argument("--metric", default=None, help="logged metric (default: the study's)")
    result.add_argument("--goal_direction", choices=GOALS, default=None,
                        help="whether the metric reaches the goal from above (minimize) or below")
    result.add_argument("--key", default="batch_size", help="the scientific key (batch_size)")
    result.add_argument("--out", default=None, help="figure folder (default STUDY_DIR/scaling)")

    duration = sub.add_parser(
        "max-train-steps", help="the first max_train_steps from a constant learning-rate sweep",
        description="Playbook: the step at which the fastest trial of a learning-rate sweep "
                    "(constant schedule, no regularisation) fits the training set.")
    duration.add_argument("study_dir")
    duration.add_argument("--goal", type=float, required=True,
                          help="training-loss value that counts as fitting, e.g. --goal 0.01")
    duration.add_argument("--metric", default="train/loss", help="logged metric (train/loss)")


def _scaling(parser: argparse.ArgumentParser, args: argparse.Namespace,
             overrides: Sequence[str]) -> int:
    if args.command == "batch-sizes":
        from playbook import config as config_lib
        from playbook.train import throughput_sweep

        config = config_lib.load(args.config, overrides)
        config_lib.check_baseline(config, args.config, "batch-sizes")
        result = throughput_sweep.sweep(config, start=args.start,
                                        max_batch_size=args.max_batch_size,
                                        min_gain=args.min_gain, patience=args.patience,
                                        min_seconds=args.seconds)
        print(result.text())
        return 0
    if overrides:
        parser.error(f"{args.command} takes no --config overrides")
    from playbook.analysis import scaling_commands

    if args.command == "steps-to-result":
        return scaling_commands.steps_to_result(args.study_dir, args.goal, args.metric,
                                                args.goal_direction, args.key, args.out)
    return scaling_commands.max_train_steps(args.study_dir, args.goal, args.metric)


if __name__ == "__main__":
    raise SystemExit(main())
