"""The trials table of a study as CSV, JSON or Parquet (`playbook export`), and reading it
back with the types `load_study` gives.

The columns are `load_study`'s, named as in the study: trial_id, label, one per
scientific and one per nuisance key, status, reason, objective, best_step,
max_train_steps, steps, seed, repeats. Trial ids are strings: `0000` stays
`0000` (JSON is written with its table schema; CSV readers must be told, as
`read_trials` does). Parquet needs pyarrow (`pip install playbook[parquet]`).

Where the table goes (`destination`), as command-line tools do: a text format (CSV,
JSON) to standard output unless `--out FILE` names a file, so that it pipes into other
tools (`playbook export DIR > trials.csv`, `| head`); Parquet, binary, only to a file.
The format follows the file's extension unless `--format` names one. Export never
writes into the study directory unless `--out` points there.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys

import pandas as pd

from playbook import atomic
from playbook.analysis.load import load_study
from playbook.errors import ConfigError

FORMATS = ("csv", "json", "parquet")
TEXT_FORMATS = ("csv", "json")
STDOUT = "-"  # --out - : standard output, as when --out is not given
RESULT_COLUMNS = ("status", "reason", "objective", "best_step", "max_train_steps", "steps",
                  "seed", "repeats")
STRING_COLUMNS = ("trial_id", "label", "status", "reason", "repeats")
INTEGER_COLUMNS = ("best_step", "max_train_steps", "steps", "seed")


def trials_table(study_dir: str | os.PathLike) -> pd.DataFrame:
    """The exported columns of `load_study(study_dir)`."""
    trials = load_study(study_dir)
    keys = [k for k in (*trials.attrs["scientific"], *trials.attrs["nuisance"])
            if k not in RESULT_COLUMNS]
    table = trials[["trial_id", "label", *keys, *RESULT_COLUMNS]].copy()
    table.attrs = dict(trials.attrs)
    return table


def export(study_dir: str | os.PathLike, fmt: str, out: str | os.PathLike) -> str:
    """Writes the trials table of the study to `out` in `fmt`; returns the path."""
    check_format(fmt)
    table = trials_table(study_dir)
    out = os.fspath(out)
    if os.path.dirname(os.path.abspath(out)):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if fmt in TEXT_FORMATS:
        atomic.write_text(out, text(table, fmt))
    else:
        with atomic.replacing(out) as tmp:
            table.to_parquet(tmp, index=False)
    return out


def text(table: pd.DataFrame, fmt: str) -> str:
    """The table as CSV or JSON (with its table schema) text."""
    if fmt == "csv":
        return table.to_csv(index=False)
    return table.to_json(orient="table", index=False, indent=1) + "\n"


def destination(fmt: str | None, out: str | None) -> tuple[str, str | None]:
    """(format, file) for `playbook export --format FMT --out OUT`; file None: standard
    output. The format defaults to OUT's extension, else csv; parquet needs a file."""
    out = None if out in (None, "", STDOUT) else os.fspath(out)
    if fmt is None:
        ext = os.path.splitext(out or "")[1].lstrip(".").lower()
        fmt = ext if ext in FORMATS else "csv"
    check_format(fmt)
    if out is None and fmt not in TEXT_FORMATS:
        raise ConfigError(f"{fmt} is binary: give the file to write with --out FILE.{fmt} "
                          f"(csv and json go to standard output without --out)")
    return fmt, out


def print_table(study_dir: str | os.PathLike, fmt: str) -> int:
    """Writes the table to standard output; the exit status (141, 128 + SIGPIPE, as a
    tool SIGPIPE ends, when the reader left early: `| head`)."""
    data = text(trials_table(study_dir), fmt)
    try:
        sys.stdout.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        # What is still buffered would fail again at exit: send it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return 0


def read_trials(path: str | os.PathLike) -> pd.DataFrame:
    """An exported table with load_study's types: ids and labels as strings, steps as Int64."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    check_format(fmt)
    if fmt == "csv":
        table = pd.read_csv(path, dtype={c: "string" for c in STRING_COLUMNS},
                            keep_default_na=False, na_values=[""])
    elif fmt == "json":
        table = pd.read_json(path, orient="table")
    else:
        table = pd.read_parquet(path)
    for column in STRING_COLUMNS:
        if column in table:
            table[column] = table[column].astype(object).where(table[column].notna(), None)
    for column in INTEGER_COLUMNS:
        if column in table:
            table[column] = pd.array(table[column], dtype="Int64")
    return table


def check_format(fmt: str) -> None:
    """ConfigError for an unknown format, or parquet without pyarrow."""
    if fmt not in FORMATS:
        raise ConfigError(f"export format '{fmt}' is not known; valid: {', '.join(FORMATS)}")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ConfigError("parquet export needs pyarrow: pip install 'playbook[parquet]' "
                          "(or export with --format csv or json)")
