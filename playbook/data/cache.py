"""An on-disk cache of generated datasets as numpy `.npz` archives.

Used by workloads whose data are generated rather than shipped (mnist1d), so
generation runs once per machine. Archives are plain arrays read with
`allow_pickle=False` (no code runs on load), written atomically (a temporary
file in the same directory, then `os.replace`) so concurrent trials never read
a half-written file, and rebuilt when unreadable or incomplete. The directory
is `$PLAYBOOK_DATA_DIR` if set, else `~/.cache/playbook/`. Not a download
manager: nothing here touches the network.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from playbook import atomic

ENV_VAR = "PLAYBOOK_DATA_DIR"


def cache_dir() -> Path:
    """The directory cached datasets live in (not created here)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "playbook"


def load_or_build(name: str, build: Callable[[], dict[str, np.ndarray]],
                  keys: Iterable[str]) -> dict[str, np.ndarray]:
    """The arrays cached as `<cache_dir>/<name>.npz`, or `build()`'s, cached first.

    A cached archive that cannot be read or lacks one of `keys` is rebuilt.
    """
    path = cache_dir() / f"{name}.npz"
    keys = list(keys)
    if path.exists():
        arrays = _read(path, keys)
        if arrays is not None:
            return arrays
        logging.warning("cached dataset %s is unreadable or incomplete; rebuilding it", path)
    arrays = {k: np.asarray(v) for k, v in build().items()}
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise KeyError(f"dataset builder for '{name}' did not return {missing}")
    _write(path, arrays)
    return arrays


def _read(path: Path, keys: list[str]) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not all(k in archive.files for k in keys):
                return None
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        # A truncated or foreign file: rebuilding is cheaper than diagnosing it.
        return None


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as tmp, open(tmp, "xb") as f:
        np.savez(f, **arrays)
