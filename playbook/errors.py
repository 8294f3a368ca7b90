"""The project's own error for bad configuration or bad command-line input.

A `ConfigError` is raised before anything runs or is written; its message is
one line that names the offending key and what would be valid. The CLI prints
it without a traceback and exits with status 2.
"""

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """Bad input: a config key, a range, a value or a command-line argument."""


def closest(name: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for `name`, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
