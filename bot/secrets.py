"""Secrets (journal key, Janus PIN/secret/token, webhook key) come only from the
environment or from owner-only files: one loader for all of them.

A secret file that the group or other users may read is refused at startup,
with the command that fixes it. The permission check is made on the file
descriptor actually opened (fstat), so there is no check-then-open race.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.config import ConfigError

MAX_SECRET_BYTES = 64 * 1024


def read_secret_file(
    path: Path, what: str, max_bytes: int = MAX_SECRET_BYTES, create_command: str | None = None
) -> bytes:
    """The bytes of `path`, refused unless it is a regular file no one but its owner can read.

    `what` names the setting in every error (e.g. "journal key file", "janus.token_file");
    `create_command` is the fix offered when the file is missing."""
    path = path.expanduser()
    create = create_command or f"(umask 077; cat > {path})"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ConfigError(
            f"{what} {path}: no such file. Fix: create it owner-only with {create}."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{what} {path}: cannot be read ({exc.strerror}). Fix: check the path, its owner, and that it is "
            "not a symbolic link."
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what} {path}: not a regular file. Fix: point it at a file holding the secret.")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            readers = "group and other users" if mode & 0o070 and mode & 0o007 else (
                "the group" if mode & 0o070 else "other users")
            raise ConfigError(
                f"{what} {path}: mode {mode:04o} lets {readers} read the secret. Fix: chmod 600 {path}"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(f"{what} {path}: larger than {max_bytes} bytes. Fix: the file should hold only the secret.")
    return data


def secret_from_env_or_file(env_var: str, path: Path | None, what: str) -> bytes | None:
    """The secret from `env_var` when set (non-empty), else from the owner-only file `path`, else None.

    Text secrets lose their trailing line end (as written by `echo` or an editor)."""
    value = os.environ.get(env_var, "")
    if value:
        return value.encode("utf-8")
    if path is None:
        return None
    data = read_secret_file(path, what)
    return data.rstrip(b"\r\n")
