from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bot.notes.base import Evidence, Note, SessionFacts, Statement
from bot.notes.render import write_note
from bot.notes.simple import SimpleNoteGenerator
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.segment import Participant

FACTS = SessionFacts("abc123", "2026-11-23T10:00:00+00:00", 120.0, "en", (
    {"id": "p1", "display_name": "Dr. R", "role": "clinician"}, {"id": "p2", "display_name": "Sam", "role": "client"}))


def transcript() -> TranscriptBuffer:
    buffer = TranscriptBuffer("abc123")
    clinician, client = Participant("p1", "Dr. R", "clinician"), Participant("p2", "Sam", "client")
    buffer.append(clinician, 1.0, 3.0, "How did you sleep?", "en", 0.9)
    buffer.append(client, 4.0, 6.0, "Badly at first.", "en", 0.8)
    buffer.append(client, 6.5, 8.0, "Then better.", "en", 0.8)
    buffer.append(clinician, 12.0, 14.0, "Good.", "en", 0.9)
    return buffer


def test_every_statement_cites_existing_segments_of_its_speaker() -> None:
    segments = transcript().segments()
    note = SimpleNoteGenerator().generate(segments, FACTS)
    by_id = {s.id: s for s in segments}
    statements = [st for section in note.sections for st in section.statements]
    assert len(statements) == 3  # the client's two close segments are one statement
    for statement in statements:
        assert statement.evidence
        speakers = {by_id[e.segment_id].display_name for e in statement.evidence}
        assert len(speakers) == 1 and statement.text.startswith(speakers.pop())
    assert note.cited_segment_ids() == set(by_id)


def test_a_statement_without_evidence_cannot_exist() -> None:
    with pytest.raises(ValueError):
        Statement("Client reports improved sleep.", ())
    Statement("ok", (Evidence("S1", 0.0, 1.0, "Sam"),))


def test_an_empty_session_says_so_rather_than_inventing_anything(tmp_path: Path) -> None:
    note = SimpleNoteGenerator().generate([], FACTS)
    markdown, _ = write_note(note, tmp_path / "notes", include_transcript=True)
    text = markdown.read_text()
    assert "Not discussed in this session." in text and "DRAFT" in text


def test_note_files_are_owner_only_and_json_matches_markdown(tmp_path: Path) -> None:
    note = SimpleNoteGenerator().generate(transcript().segments(), FACTS)
    markdown, as_json = write_note(note, tmp_path / "out", include_transcript=False)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    for path in (markdown, as_json):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(as_json.read_text())
    assert data["draft"] is True and data["transcript"] == []
    assert data["facts"]["session_id"] == "abc123"
    assert "Transcript" not in markdown.read_text()


def test_citations_link_only_when_the_transcript_is_included(tmp_path: Path) -> None:
    note = SimpleNoteGenerator().generate(transcript().segments(), FACTS)
    with_transcript, _ = write_note(note, tmp_path / "a", include_transcript=True)
    without, _ = write_note(note, tmp_path / "b", include_transcript=False)
    assert "](#S1)" in with_transcript.read_text() and 'id="S1"' in with_transcript.read_text()
    assert "](#S1)" not in without.read_text() and "S1 00:00:01" in without.read_text()


def test_a_written_note_can_be_redrafted_from_its_own_json(tmp_path: Path) -> None:
    from bot.notes.dialogue import parse_transcript_json

    note = SimpleNoteGenerator().generate(transcript().segments(), FACTS)
    _, as_json = write_note(note, tmp_path, include_transcript=True)
    segments = parse_transcript_json(json.loads(as_json.read_text()))
    assert [(s.id, s.display_name, s.text) for s in segments] == [
        (s.id, s.display_name, s.text) for s in transcript().segments()]


def test_the_note_says_why_the_session_ended_and_what_was_not_transcribed(tmp_path: Path) -> None:
    from bot.notes.html import to_html
    from bot.notes.render import to_markdown
    from bot.transcribe.segment import Gap

    facts = SessionFacts("s1", "2026-01-01T09:00:00+00:00", 600.0, "en", (), ended_because="everyone else left",
                         gaps=(Gap(62.0, 65.5, "connection lost: socket closed"), Gap(300.0, 360.0, "paused by clinician")))
    note = Note("simple", facts, ())
    markdown, page = to_markdown(note, False), to_html(note, False)
    for text in (markdown, page):
        assert "Ended: everyone else left" in text
        assert "00:01:02\u201300:01:05 (connection lost: socket closed); 00:05:00\u201300:06:00 (paused by clinician)" in text
    assert note.to_dict()["facts"]["gaps"][1] == {"from_s": 300.0, "to_s": 360.0, "reason": "paused by clinician"}
    assert "Not transcribed" not in to_markdown(Note("simple", SessionFacts("s2", "x", 1.0, "en", ()), ()), False)
