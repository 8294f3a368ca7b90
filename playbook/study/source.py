"""A study config as Python source: the file `playbook next` writes and a person reads.

`study_source` renders the fields of `define(...)` (configs/studies/*.py show
the shape) with `hp.*` calls for the specs, each with its scale, branches and
`when` conditions, and a `# comment` block above any entry that has one. The
source is what `playbook study --config` loads; `StudySpec.load` on it gives
back the specs it was written from (tests/test_rounds.py checks the round
trip). Only strings are produced here; nothing is written or loaded.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from playbook import search as hp
from playbook.errors import ConfigError

WIDTH = 99  # ruff's line length in this repository
_CALLS = {"log": "hp.log", "linear": "hp.linear", "reverse_log": "hp.reverse_log"}


def literal(value: Any) -> str:
    """A Python literal of a config value (floats written so they read back exactly)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"value {value} cannot be written to a study config")
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def _when(when: hp.Condition, drop: str | None = None) -> str:
    items = {k: (v[0] if len(v) == 1 else list(v)) for k, v in when if k != drop}
    return f", when={literal(items)}" if items else ""


def spec_source(spec: hp.Spec | hp.Branches, drop: str | None = None) -> str:
    """`hp.log(1e-05, 0.01)` and friends; `drop` leaves out a branch's own condition."""
    if isinstance(spec, hp.Branches):
        inner = ", ".join(f"{literal(v)}: {spec_source(b, drop=spec.key)}"
                          for v, b in spec.branches)
        return f"hp.branches({spec.key!r}, {{{inner}}})"
    when = _when(spec.when, drop)
    if isinstance(spec, hp.Float):
        return f"{_CALLS[spec.scale]}({literal(spec.low)}, {literal(spec.high)}{when})"
    if isinstance(spec, hp.Int):
        scale = "" if spec.scale == "linear" else f", {spec.scale!r}"
        return f"hp.int_range({spec.low!r}, {spec.high!r}{scale}{when})"
    if isinstance(spec, hp.Discrete):
        return f"hp.discrete({literal(list(spec.values))}{when})"
    if isinstance(spec, hp.Choice):
        return f"hp.choice({literal(list(spec.values))}{when})"
    raise ConfigError(f"cannot write a spec of kind {type(spec).__name__}")


def comment(text: str, indent: str) -> list[str]:
    """`text` as `# ` lines at `indent`, wrapped to the line length."""
    return textwrap.wrap(text, width=WIDTH - len(indent) - 2, initial_indent=f"{indent}# ",
                         subsequent_indent=f"{indent}# ", break_long_words=False,
                         break_on_hyphens=False) or [f"{indent}#"]


def string_lines(text: str, indent: str, head: str) -> list[str]:
    """`head` followed by `text` as a string literal, split over lines (implicit
    concatenation) when it would not fit; the last line ends with a comma."""
    one = f"{indent}{head}{text!r},"
    if len(one) <= WIDTH:
        return [one]
    room = WIDTH - len(indent) - len(head) - 4
    chunks = textwrap.wrap(text, width=max(room, 20), drop_whitespace=False,
                           break_long_words=True, break_on_hyphens=False)
    pad = " " * (len(indent) + len(head) + 1)
    lines = [f"{indent}{head}({chunks[0]!r}"] + [f"{pad}{c!r}" for c in chunks[1:]]
    lines[-1] += "),"
    return lines


def _entries(items: Mapping[str, str], notes: Mapping[str, Sequence[str]], indent: str
             ) -> list[str]:
    lines = []
    for key, source in items.items():
        for note in notes.get(key, ()):
            lines += comment(note, indent)
        line = f"{indent}{key!r}: {source},"
        if len(line) > WIDTH and source.startswith("hp.branches("):
            lines += _branch_lines(key, source, indent)
        else:
            lines.append(line)
    return lines


def _branch_lines(key: str, source: str, indent: str) -> list[str]:
    """A long hp.branches(...) entry with one branch per line."""
    head, _, body = source.partition(", {")
    lines = [f"{indent}{key!r}: {head}, {{"]
    depth, start = 0, 0
    body = body[:-2]  # drop the closing '})'
    for i, char in enumerate(body + ","):
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            lines.append(f"{indent}    {body[start:i].strip()},")
            start = i + 1
    return lines + [f"{indent}}}),"]


def _change_lines(change: Mapping[str, Any], indent: str) -> list[str]:
    lines = [f"{indent}{{"]
    inner = indent + "    "
    short = {k: v for k, v in change.items() if k not in ("change", "reason")}
    line = inner
    for k, v in short.items():  # as many short fields on a line as fit
        item = f"{k!r}: {literal(v)},"
        if line != inner and len(line) + 1 + len(item) > WIDTH:
            lines.append(line)
            line = inner
        line += item if line == inner else f" {item}"
    lines.append(line)
    for k in ("change", "reason"):
        if k in change:
            lines += string_lines(str(change[k]), inner, f"{k!r}: ")
    return lines + [f"{indent}}},"]


def study_source(fields: Mapping[str, Any], notes: Mapping[str, Mapping[str, Sequence[str]]],
                 docstring: str) -> str:
    """The module text: `fields` are define()'s arguments (nuisance as specs); `notes`
    maps a field ('nuisance', 'fixed', 'budget', ...) to {key: comment lines}."""
    doc = docstring.replace('"""', "'''").rstrip()
    out = [f'"""{doc}\n"""', "", "from playbook import search as hp",
           "from playbook.study import define", "", "", "def get_config():",
           "    return define("]
    field_notes = notes.get("field", {})
    pad = " " * 8
    for name, value in fields.items():
        for note in field_notes.get(name, ()):
            out += comment(note, pad)
        if name == "nuisance":
            out.append(f"{pad}nuisance={{")
            out += _entries({k: spec_source(s) for k, s in value.items()},
                            notes.get("nuisance", {}), pad + "    ")
            out.append(f"{pad}}},")
        elif name in ("scientific", "fixed") and value:
            out.append(f"{pad}{name}={{")
            out += _entries({k: literal(v) for k, v in value.items()}, notes.get(name, {}),
                            pad + "    ")
            out.append(f"{pad}}},")
        elif name == "previous":
            out.append(f"{pad}previous={{")
            out += string_lines(value["study"], f"{pad}    ", "'study': ")
            out.append(f"{pad}    'round': {literal(value['round'])},")
            out.append(f"{pad}    'changes': [")
            for change in value["changes"]:
                out += _change_lines(change, f"{pad}        ")
            out += [f"{pad}    ],", f"{pad}}},"]
        elif isinstance(value, str):
            out += string_lines(value, pad, f"{name}=")
        else:
            out.append(f"{pad}{name}={literal(value)},")
    out += ["    )", ""]
    return "\n".join(out)
