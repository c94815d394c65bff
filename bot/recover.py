"""Finish the notes of sessions that were interrupted (crash, kill -9, power loss).

Every unfinished journal (no "end" record) is decrypted, its segments become a
note marked as recovered, and the journal is then ended and deleted. A journal
that cannot be read with the configured key is left where it is and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bot.config import Settings
from bot.log import get_logger
from bot.notes.base import DRAFT_BANNER, SessionFacts
from bot.notes.render import write_note
from bot.notes.structured import make_generator
from bot.transcribe.journal import JournalError, delete_journal, find_unfinished, read_journal

log = get_logger(__name__)

RECOVERED_BANNER = (
    DRAFT_BANNER + " Recovered from the encrypted journal after the session was interrupted: "
    "the end of the session may be missing."
)


@dataclass
class Recovered:
    journal: Path
    note: Path | None
    segments: int
    error: str | None = None


def recover_all(settings: Settings, key: bytes) -> list[Recovered]:
    directory = settings.journal.directory
    if not directory.is_dir():
        return []
    generator = make_generator(settings.session.note_template, settings.paths.risk_dir, settings.paths.templates_dir,
                               settings.notes)
    done: list[Recovered] = []
    for path in find_unfinished(directory, key):
        try:
            contents = read_journal(path, key)
        except JournalError as exc:
            log.error("journal_unreadable", journal=path.name, error=type(exc).__name__)
            done.append(Recovered(path, None, 0, str(exc)))
            continue
        metadata = contents.header.get("metadata", {})
        session_id = contents.header["session_id"]
        segments = contents.segments
        facts = SessionFacts(
            session_id=session_id,
            started_at=str(metadata.get("started_utc") or contents.header["created_utc"]),
            duration_s=round(max((s.end for s in segments), default=0.0), 1),
            language=str(metadata.get("language") or settings.session.language),
            participants=tuple({"id": p.id, "display_name": p.display_name, "role": p.role}
                               for p in contents.participants),
            ended_because="the bot stopped unexpectedly (recovered from its journal)",
            gaps=tuple(contents.gaps),
        )
        purposes = frozenset(settings.consent.purposes)
        note = replace(generator.generate(segments, facts, settings.session.note_template, purposes),
                       banner=RECOVERED_BANNER)
        stem = str(metadata.get("stem") or session_id) + ".recovered"
        markdown, _ = write_note(note, settings.paths.output_dir, settings.notes.include_transcript, stem)
        delete_journal(path)
        log.info("session_recovered", session_id=session_id, segments=len(segments),
                 corrupt_tail=contents.corrupt_tail)
        done.append(Recovered(path, markdown, len(segments)))
    return done
