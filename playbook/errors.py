"""The project's own error for bad configuration or bad command-line input.

A `ConfigError` is raised before anything runs or is written; its message is
one line that names the offending key and what would be valid. The CLI prints
it without a traceback and exits with status 2.
"""

import difflib
import errno
import os
import re
from collections.abc import Iterable

# A full disk or quota, a read-only file system, missing permissions: faults of where
# a study is written, not of its trials.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
_STORAGE_TEXTS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                  "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES}


class ConfigError(ValueError):
    """Bad input: a config key, a range, a value or a command-line argument."""


def closest(name: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for `name`, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def storage_fault(error: BaseException) -> OSError | None:
    """The storage fault (see STORAGE_ERRNOS) behind `error`, or None.

    Follows `__cause__` and `__context__`; errors of libraries that do their own
    I/O (orbax's tensorstore) are recognised by the operating system's message.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
            return error
        for text, code in _STORAGE_TEXTS.items():
            if text in str(error):
                path = re.search(r'file "([^"]+)"', str(error))
                return OSError(code, text, path.group(1) if path else None)
        error = error.__cause__ or error.__context__
    return None


def check_directory(path: str, flag: str = "--workdir") -> None:
    """ConfigError, before anything is written, when `path` or a folder above it is a file."""
    path = os.path.abspath(path)
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if os.path.exists(probe) and not os.path.isdir(probe):
        where = "is a file" if probe == path else f"cannot be created: '{probe}' is a file"
        raise ConfigError(f"{flag} '{path}' {where}; give a directory path (created if "
                          f"missing)")
