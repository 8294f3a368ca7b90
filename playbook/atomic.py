"""Files replaced whole: the one atomic write, and reading such a file back.

A file is written to a temporary beside it, `NAME.tmp-<pid>-<hex>`, flushed and
(unless asked not to) fsynced, then renamed over NAME with `os.replace`: a
reader sees the old file or the new one, never part of one, and two writers of
one file (two threads, two processes) never share a temporary. A writer killed
mid-write leaves its temporary behind; `remove_temporaries` deletes those, and
the temporaries of older versions (`.tmp-*.json`, `NAME.tmp-<pid>`). Since such
a file is only ever replaced whole, one that exists and does not parse is
damage: `read_json` names it in a warning (once per process) and reads it as
missing. Nothing here knows what the files mean (see playbook.trial_files).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

# This version's temporaries (NAME.tmp-<pid>-<hex>) and older versions': a study
# store's `.tmp-<random>.json` and a trial's own `NAME.tmp-<pid>`.
_TEMPORARY = re.compile(r"^(\.tmp-.*\.json|.+\.tmp-[0-9]+(-[0-9a-f]+)?)$")

log = logging.getLogger(__name__)


def temporary(path: str | os.PathLike) -> str:
    """The temporary a write of `path` goes through: beside it, unique to this write."""
    return f"{os.fspath(path)}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def is_temporary(name: str) -> bool:
    """Whether a file name is a temporary of an atomic write (this version's or older)."""
    return bool(_TEMPORARY.match(name))


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path` for a writer that wants a file name
    (`savefig`, `to_parquet`, `np.savez`); renames it over `path` when the block
    ends, and removes it if the block raises. Not fsynced: for files that can be
    written again (reports, caches)."""
    tmp = temporary(path)
    try:
        yield tmp
        os.replace(tmp, os.fspath(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True,
                if_changed: bool = False) -> None:
    """Replaces `path` with `data` atomically; `fsync` first puts the bytes on disk, so
    that a machine crash after the rename cannot leave an empty file. With
    `if_changed`, a file that already holds `data` is left as it is (not even touched)."""
    if if_changed and _holds(path, data):
        return
    with replacing(path) as tmp:
        with open(tmp, "xb") as f:  # permissions as the umask says, like any new file
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str, fsync: bool = True,
               if_changed: bool = False) -> None:
    """Replaces `path` with `text` (UTF-8) atomically; see `write_bytes`."""
    write_bytes(path, text.encode("utf-8"), fsync=fsync, if_changed=if_changed)


def write_json(path: str | os.PathLike, obj: Any, sort_keys: bool = False,
               fsync: bool = True, if_changed: bool = False) -> None:
    """Replaces `path` with `obj` as indented JSON and a final newline, atomically;
    see `write_bytes`."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=sort_keys) + "\n", fsync=fsync,
               if_changed=if_changed)


def _holds(path: str | os.PathLike, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def remove_temporaries(directory: str) -> list[str]:
    """Deletes the temporaries that writers killed mid-write left in `directory`;
    returns their names.

    Call only while holding what serialises the directory's writers (a study's
    lock for its root, a trial's claim for its directory).
    """
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if is_temporary(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))
                    removed.append(name)
    return removed


def read_json(path: str, *, warn: bool = False) -> dict | None:
    """The JSON object in `path`, or None if it is missing or unreadable.

    Every JSON file of a study is written atomically, so a reader never sees one
    being written: one that exists but does not parse was damaged (a crash of a
    copy, a full disk, an edit). With `warn`, that is logged once, naming the file.
    """
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        if warn:
            warn_damaged(path, f"{type(e).__name__}: {first_line(e)}")
        return None
    if not isinstance(obj, dict):
        if warn:
            warn_damaged(path, f"a JSON {type(obj).__name__}, not an object")
        return None
    return obj


_WARNED: set[tuple[str, str]] = set()


def warn_damaged(path: str, problem: str) -> None:
    """Logs once per process that `path` is damaged and is read as missing."""
    if (path, problem) not in _WARNED:
        _WARNED.add((path, problem))
        log.warning("%s is unreadable (%s); it is treated as missing", path, problem)


def first_line(error: BaseException) -> str:
    """An exception's message, first line, at most 200 characters."""
    return (str(error).splitlines() or [""])[0][:200]
