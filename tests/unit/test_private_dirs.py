"""The output directory, and any parent the bot has to create for it, is created 0700; an existing
directory is left as it is."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.files import ensure_private_dir, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_output_dir_and_missing_parents_are_0700_whatever_the_umask(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    previous = os.umask(0o022)
    try:
        note = write_private(tmp_path / "notes" / "rivera" / "note.md", "x")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "notes") == _mode(tmp_path / "notes" / "rivera") == 0o700
    assert _mode(note) == 0o600
    assert _mode(tmp_path) == 0o755  # existing: left alone


def test_existing_directory_is_not_changed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    ensure_private_dir(shared)
    assert _mode(shared) == 0o755
