"""The service's state file and `sessionbot status`, and the retention sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.files import write_private
from bot.service.retention import sweep
from bot.service.schedule import RetentionSettings
from bot.service.status import ServiceStatus, SessionStatus, format_status, read_status
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.journal import JournalWriter, TranscriptJournal
from bot.transcribe.segment import Participant


def test_status_round_trips_and_shows_running_and_upcoming_sessions(tmp_path: Path) -> None:
    status = ServiceStatus(started_utc="2026-11-23T10:00:00+00:00")
    status.sessions["a"] = SessionStatus("a", "rivera", "2026-11-23T10:00:00+00:00", "2026-11-23T10:50:00+00:00",
                                         "listening", attempts=1)
    status.sessions["b"] = SessionStatus("b", "lee", "2099-01-01T10:00:00+00:00", "2099-01-01T10:50:00+00:00",
                                         "scheduled")
    status.write(tmp_path / "service.json")
    assert oct((tmp_path / "service.json").stat().st_mode & 0o777) == "0o600"
    again = read_status(tmp_path / "service.json")
    assert again is not None and again.sessions == status.sessions
    shown = format_status(again)
    assert "running: 1" in shown and "upcoming: 1" in shown and "listening" in shown and "rivera" in shown
    assert f"service pid {os.getpid()}: running" in shown


def test_status_command_reads_the_state_file_the_schedule_names(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(f'[service]\nstate_file = "{tmp_path / "state.json"}"\n')
    runner = CliRunner()
    missing = runner.invoke(main, ["status", "--schedule", str(schedule)])
    assert missing.exit_code == 1 and "has not run yet" in missing.output
    ServiceStatus(pid=2**22 + 7).write(tmp_path / "state.json")  # a pid that is not running
    shown = runner.invoke(main, ["status", "--schedule", str(schedule)])
    assert shown.exit_code == 0 and "not running" in shown.output


def journal(directory: Path, session_id: str, key: bytes, ended: bool) -> Path:
    j = TranscriptJournal(directory, session_id, key, {"language": "en"})
    buffer = TranscriptBuffer(session_id)
    buffer.subscribe(JournalWriter(j))
    buffer.append(Participant("p1", "Sam", "client"), 1.0, 2.0, "hello there", "en", 0.9)
    if ended:
        j.end("call ended")
    j.close()
    return j.path


def test_sweep_deletes_ended_journals_after_their_time_and_never_unfinished_ones(tmp_path: Path) -> None:
    key = os.urandom(32)
    root = tmp_path / "journal"
    ended = journal(root / "rivera", "s1", key, ended=True)
    unfinished = journal(root / "rivera", "s2", key, ended=False)
    kept = sweep(RetentionSettings(journals_keep_s=3600), root, tmp_path / "notes", key, set())
    assert kept.journals_deleted == 0 and ended.exists()
    later = sweep(RetentionSettings(journals_keep_s=3600), root, tmp_path / "notes", key, set(), now=time.time() + 7200)
    assert later.journals_deleted == 1 and not ended.exists() and unfinished.exists()


def test_sweep_deletes_old_delivered_notes_only_when_configured_and_never_undelivered(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    delivered = [write_private(notes / "rivera" / f"20261101T100000-aaa.{ext}", "x") for ext in ("md", "json")]
    owed = write_private(notes / "rivera" / "20261101T110000-bbb.json", "x")
    future = time.time() + 40 * 86_400
    assert sweep(RetentionSettings(), tmp_path / "j", notes, None, {owed}, now=future).notes_deleted == 0
    result = sweep(RetentionSettings(notes_keep_days=30), tmp_path / "j", notes, None, {owed}, now=future)
    assert result.notes_deleted == 2 and not any(p.exists() for p in delivered) and owed.exists()
