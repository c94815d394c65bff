"""Journals are owned: recovery never takes a journal that a live process is writing, makes the
note with the purposes and template the session itself ran with, and purges (never notes) a
journal whose session was objected to, even when the process died in the middle of the purge.

The writers here are real separate processes sharing one journal directory with the test."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bot.config import Settings
from bot.recover import recover_all
from bot.transcribe.journal import KEY_ENV, JournalInUseError, TranscriptJournal, read_journal
from bot.transcribe.segment import Participant, Segment

REPO = Path(__file__).resolve().parents[2]
KEY = bytes(range(32))
# Distinctive words, so that finding any of them in a file means the transcript leaked into it.
LINES = ["The marmalade jar cracked when grandmother dropped it.",
         "Since then the kaleidoscope stays in the attic."]
WORDS = [b"marmalade", b"grandmother", b"kaleidoscope", b"attic"]
OWN_HEADER = {"purposes": ["notes", "risk_flags"], "note_template": "simple"}

WRITER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from bot.log import configure_logging
    from bot.transcribe.journal import TranscriptJournal, load_journal_key
    from bot.transcribe.segment import Participant, Segment

    configure_logging("warning")  # logs go to stderr; stdout carries only the acknowledgement
    directory, session_id, then = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    metadata = {"language": "en", "consent_mode": "implied", "stem": "2031-stem-" + session_id,
                "started_utc": "2031-05-06T10:00:00+00:00", **json.loads(sys.argv[4])}
    journal = TranscriptJournal(directory, session_id, load_journal_key(), metadata)
    journal.append_participant(Participant("p2", "Client", "client"))
    for i, line in enumerate(json.loads(sys.argv[5]), start=1):
        journal.append_segment(Segment(f"S{i}", session_id, "p2", "Client", "client", i * 5.0, i * 5.0 + 4,
                                       line, "en", 0.9))
    if then == "object":
        journal.mark_objection()
        os.kill(os.getpid(), signal.SIGKILL)  # dies between the objection and the delete
    print("ready", flush=True)
    sys.stdin.read()  # holds the journal until killed (or until the test's end closes the pipe)
    """
)


def start_writer(directory: Path, session_id: str, then: str, header: dict[str, object]) -> subprocess.Popen[str]:
    env = {**os.environ, KEY_ENV: base64.b64encode(KEY).decode(), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), session_id, then, json.dumps(header), json.dumps(LINES)],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


@pytest.fixture
def writers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)


@pytest.fixture
def settings(make_settings) -> Settings:
    # The recovering process's own settings differ from the journals' headers on purpose.
    return make_settings(session={"note_template": "soap"}, consent={"purposes": ["notes"]},
                         notes={"include_transcript": True})


def files_mentioning_the_transcript(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and any(w in p.read_bytes().lower() for w in WORDS)]


def test_a_journal_another_process_is_writing_is_left_alone_until_that_process_dies(
    settings: Settings, writers: list[subprocess.Popen[str]],
) -> None:
    directory = settings.journal.directory
    child = start_writer(directory, "live1", "hold", OWN_HEADER)
    writers.append(child)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    journal = directory / "live1.journal"
    before = journal.read_bytes()

    with structlog.testing.capture_logs() as logs:
        assert recover_all(settings, KEY) == []
        [in_use] = recover_all(settings, KEY, include_in_use=True)
    assert in_use.outcome == "in_use" and in_use.note is None and "running session" in in_use.summary
    assert journal.read_bytes() == before  # untouched, not deleted
    assert not settings.paths.output_dir.exists() or list(settings.paths.output_dir.iterdir()) == []
    events = [e for e in logs if e["event"] == "journal_in_use"]
    assert len(events) == 2 and all(set(e) == {"event", "log_level", "session_id"} for e in events)
    with pytest.raises(JournalInUseError, match="being written by a running session"):
        TranscriptJournal(directory, "live1", KEY)  # a second `join` of the same session is refused

    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    [done] = recover_all(settings, KEY)
    assert done.outcome == "recovered" and done.segments == len(LINES) and not journal.exists()
    assert done.note == settings.paths.output_dir / "2031-stem-live1.recovered.md"
    note = json.loads(done.note.with_suffix(".json").read_text())
    # The journal's own purposes and template, not the recovering process's ("soap", ["notes"]).
    assert note["template"] == "simple" and note["purposes"] == ["notes", "risk_flags"] and "risk_flags" in note
    assert [s["text"] for s in note["transcript"]] == LINES
    assert "Recovered from the encrypted journal" in note["banner"]


def test_kill_9_between_the_objection_and_the_delete_purges_at_the_next_recovery(
    settings: Settings, writers: list[subprocess.Popen[str]],
) -> None:
    directory = settings.journal.directory
    child = start_writer(directory, "obj1", "object", OWN_HEADER)
    writers.append(child)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    journal = directory / "obj1.journal"
    contents = read_journal(journal, KEY)
    assert contents.objected and len(contents.segments) == len(LINES)  # the purge had not happened yet

    with structlog.testing.capture_logs() as logs:
        [purged] = recover_all(settings, KEY)
    assert purged.outcome == "purged_on_objection" and purged.note is None and purged.error is None
    assert "objected" in purged.summary
    assert not journal.exists()
    assert not settings.paths.output_dir.exists() or list(settings.paths.output_dir.iterdir()) == []
    assert files_mentioning_the_transcript(settings.paths.output_dir.parent) == []
    assert [e["event"] for e in logs if e["event"].startswith("journal_")] == ["journal_purged_on_objection"]
    assert recover_all(settings, KEY) == []  # nothing left for a later start either


def test_a_session_without_the_notes_purpose_is_not_made_into_a_note(settings: Settings) -> None:
    # As the session does when "notes" was not consented: no note, and the journal goes.
    directory = settings.journal.directory
    with TranscriptJournal(directory, "risk1", KEY, {"language": "en", "purposes": ["risk_flags"],
                                                     "note_template": "simple"}) as journal:
        for i, line in enumerate(LINES, start=1):
            journal.append_segment(Segment(f"S{i}", "risk1", "p2", "Client", "client", i * 5.0, i * 5.0 + 4,
                                           line, "en", 0.9))
    [result] = recover_all(settings, KEY)  # settings say "notes": the header must win
    assert result.outcome == "not_noted" and result.note is None and not journal.path.exists()
    assert files_mentioning_the_transcript(settings.paths.output_dir.parent) == []


def test_an_older_journal_without_purposes_falls_back_to_the_settings_and_says_so(make_settings) -> None:
    settings = make_settings(session={"note_template": "simple"}, consent={"purposes": ["notes"]})
    participant = Participant("p2", "Client", "client")
    with TranscriptJournal(settings.journal.directory, "old1", KEY, {"language": "en"}) as journal:
        journal.append_participant(participant)
        journal.append_segment(Segment("S1", "old1", "p2", "Client", "client", 1.0, 4.0, LINES[0], "en", 0.9))
    with structlog.testing.capture_logs() as logs:
        [result] = recover_all(settings, KEY)
    assert result.outcome == "recovered" and result.segments == 1
    note = json.loads(result.note.with_suffix(".json").read_text())  # type: ignore[union-attr]
    assert note["template"] == "simple" and note["purposes"] == ["notes"]
    [fallback] = [e for e in logs if e["event"] == "journal_recovered_with_current_settings"]
    assert fallback["session_id"] == "old1" and fallback["missing"] == ["purposes", "note_template"]


def test_a_header_naming_an_unknown_purpose_is_kept_and_reported(settings: Settings) -> None:
    with TranscriptJournal(settings.journal.directory, "new1", KEY,
                           {"purposes": ["notes", "telepathy"], "note_template": "simple"}) as journal:
        journal.append_segment(Segment("S1", "new1", "p2", "Client", "client", 1.0, 4.0, LINES[0], "en", 0.9))
    [result] = recover_all(settings, KEY)
    assert result.outcome == "failed" and result.note is None and "purposes" in (result.error or "")
    assert journal.path.exists()
    assert files_mentioning_the_transcript(settings.paths.output_dir) == []


@pytest.mark.slow
def test_sessionbot_recover_reports_what_it_left_alone_and_what_it_purged(
    tmp_path: Path, writers: list[subprocess.Popen[str]],
) -> None:
    directory = tmp_path / "journal"
    config = tmp_path / "bot.toml"
    config.write_text(f'[paths]\noutput_dir = "{tmp_path / "notes"}"\n[journal]\ndirectory = "{directory}"\n'
                      f'[logging]\nfile = "{tmp_path / "bot.jsonl"}"\n')
    objected = start_writer(directory, "obj1", "object", OWN_HEADER)
    writers.append(objected)
    objected.wait(timeout=60)
    live = start_writer(directory, "live1", "hold", OWN_HEADER)
    writers.append(live)
    assert live.stdout is not None and live.stdout.readline().strip() == "ready"

    env = {**os.environ, KEY_ENV: base64.b64encode(KEY).decode(), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "recover", "--config", str(config)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # nothing failed: a purge and a skip are both right
    lines = sorted(done.stdout.splitlines())
    assert lines[0].startswith("live1.journal: left alone") and lines[1].startswith("obj1.journal: purged")
    assert (directory / "live1.journal").exists() and not (directory / "obj1.journal").exists()
    assert files_mentioning_the_transcript(tmp_path / "notes") == []
    log = (tmp_path / "bot.jsonl").read_text().lower()
    assert not [w for w in WORDS if w.decode() in log]
