"""Owner-only file and directory creation for everything the bot writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with mode 0700.

    An existing directory is left as it is: it may be shared on purpose (/tmp),
    and the files written into it are owner-only anyway. Missing parents are
    created 0700 too (notes/<clinician>/: the list of clinicians is private as well)."""
    if not path.is_dir():
        missing = [path, *[parent for parent in path.parents if not parent.exists()]]
        for directory in reversed(missing):
            directory.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
            os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write a file atomically with mode 0600 (never world- or group-readable, even briefly)."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def open_private_append(path: Path) -> IO[str]:
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8")
