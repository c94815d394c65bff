"""The retention sweep: what the configuration says may be kept, for as long as it says.

Journals of finished sessions (kept only with journal.keep_after_note) are
deleted after retention.journals_keep_s; delivered notes are deleted from the
clinician directories after retention.notes_keep_days when that is set. A note
still owed to the webhook is never deleted; unfinished journals are left to
recovery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bot.log import get_logger
from bot.service.schedule import RetentionSettings
from bot.transcribe.journal import JournalError, delete_journal, find_unfinished

log = get_logger(__name__)

DAY_S = 86_400.0


@dataclass
class SweepResult:
    journals_deleted: int = 0
    notes_deleted: int = 0


def sweep(
    retention: RetentionSettings, journal_root: Path, notes_root: Path, key: bytes | None,
    undelivered: set[Path], now: float | None = None,
) -> SweepResult:
    now = time.time() if now is None else now
    result = SweepResult()
    if key is not None and journal_root.is_dir():
        for directory in [journal_root, *(d for d in journal_root.iterdir() if d.is_dir())]:
            unfinished = set(find_unfinished(directory, key))
            for path in directory.glob("*.journal"):
                if path in unfinished or now - path.stat().st_mtime < retention.journals_keep_s:
                    continue
                try:
                    delete_journal(path)
                    result.journals_deleted += 1
                except JournalError:
                    log.error("retention_delete_failed", kind="journal", file=path.name)
    if retention.notes_keep_days is not None and notes_root.is_dir():
        limit = retention.notes_keep_days * DAY_S
        pending = {p.resolve() for p in undelivered}
        for path in notes_root.glob("*/*"):
            if not path.is_file() or now - path.stat().st_mtime < limit:
                continue
            siblings = {path.with_name(path.name.split(".")[0] + ".json").resolve(),
                        path.with_name(path.name.split(".")[0] + ".recovered.json").resolve()}
            if siblings & pending:
                continue
            path.unlink(missing_ok=True)
            result.notes_deleted += 1
    log.info("retention_sweep", journals_deleted=result.journals_deleted, notes_deleted=result.notes_deleted)
    return result
