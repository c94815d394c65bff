"""Finish the notes of sessions that were interrupted (crash, kill -9, power loss).

Every unfinished journal (no "end" record) is first claimed (locked): one whose
writer is still alive (another `join`, another Job on the same volume) is locked
by it and left alone, untouched. A claimed journal is then

- purged if it carries the objection marker (the process died between an
  objection and the journal's deletion): no note, no transcript;
- deleted without a note if its session's consented purposes do not include
  "notes", as the session itself would have done;
- otherwise made into a note marked as recovered, with the purposes and note
  template its header records (the recovering process's own settings only for
  journals written before headers carried them), and then deleted.

A journal that cannot be read with the configured key is left where it is and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from bot.config import ConfigError, ConsentSettings, SessionSettings, Settings
from bot.log import get_logger
from bot.notes.base import DRAFT_BANNER, NoteGenerator, SessionFacts
from bot.notes.render import write_note
from bot.notes.structured import make_generator
from bot.transcribe.journal import (
    SUFFIX,
    ClaimedJournal,
    JournalContents,
    JournalError,
    JournalInUseError,
    claim_journal,
    find_unfinished,
)

log = get_logger(__name__)

RECOVERED_BANNER = (
    DRAFT_BANNER + " Recovered from the encrypted journal after the session was interrupted: "
    "the end of the session may be missing."
)

Outcome = Literal["recovered", "purged_on_objection", "not_noted", "empty", "in_use", "failed"]

_SUMMARIES: dict[str, str] = {
    "purged_on_objection": "purged: a participant had objected (no note, no transcript kept)",
    "not_noted": "deleted without a note: notes were not a consented purpose of that session",
    "empty": "deleted: the session had stopped before its journal held anything",
    "in_use": "left alone: a running session is writing it",
}


@dataclass
class Recovered:
    journal: Path
    note: Path | None  # the Markdown note; None for every outcome but "recovered"
    segments: int  # segments that went into the note
    error: str | None = None  # set only when the outcome is "failed" (the journal is kept)
    outcome: Outcome = "recovered"

    @property
    def summary(self) -> str:
        """What became of the journal, for a person; content-free."""
        if self.outcome == "recovered":
            return f"{self.segments} segments → {self.note}"
        if self.outcome == "failed":
            return f"NOT recovered ({self.error})"
        return _SUMMARIES[self.outcome]


def recover_all(settings: Settings, key: bytes, *, include_in_use: bool = False) -> list[Recovered]:
    """Recover every unfinished journal in `settings.journal.directory` that no live process holds.

    Journals in use are skipped and logged; they are in the result only with `include_in_use`
    (for `sessionbot recover`, which reports them; the others act only on what was done)."""
    directory = settings.journal.directory
    if not directory.is_dir():
        return []
    generators: dict[str, NoteGenerator] = {}
    done: list[Recovered] = []
    for path in find_unfinished(directory, key):
        session_id = path.name[: -len(SUFFIX)]
        try:
            claim = claim_journal(path)
        except JournalInUseError:
            log.info("journal_in_use", session_id=session_id)
            if include_in_use:
                done.append(Recovered(path, None, 0, outcome="in_use"))
            continue
        except OSError as exc:
            log.error("journal_unreadable", journal=path.name, error=type(exc).__name__)
            done.append(Recovered(path, None, 0, f"{path}: {exc.strerror}", "failed"))
            continue
        if claim is None:  # finished by another recovery meanwhile
            continue
        with claim:
            result = _recover_claimed(claim, settings, key, generators)
        if result is not None:
            done.append(result)
    return done


def _recover_claimed(
    claim: ClaimedJournal, settings: Settings, key: bytes, generators: dict[str, NoteGenerator]
) -> Recovered | None:
    path = claim.path
    try:
        contents = claim.read(key)
    except (JournalError, OSError) as exc:
        log.error("journal_unreadable", journal=path.name, error=type(exc).__name__)
        return Recovered(path, None, 0, str(exc), "failed")
    if not contents.header:  # the process died before the header was complete: nothing was journaled
        claim.delete()
        log.info("journal_empty_deleted", journal=path.name)
        return Recovered(path, None, 0, outcome="empty")
    session_id = str(contents.header["session_id"])
    if contents.objected:
        claim.delete()
        log.info("journal_purged_on_objection", session_id=session_id, segments_dropped=len(contents.segments))
        return Recovered(path, None, 0, outcome="purged_on_objection")
    if contents.ended:  # its session finished between the listing and the claim
        return None
    try:
        purposes, template = _consented(contents, settings)
    except JournalError as exc:
        log.error("journal_header_invalid", session_id=session_id)
        return Recovered(path, None, 0, str(exc), "failed")
    if "notes" not in purposes:
        claim.delete()
        log.info("journal_deleted_without_note", session_id=session_id, purposes=sorted(purposes),
                 segments_dropped=len(contents.segments))
        return Recovered(path, None, 0, outcome="not_noted")

    metadata: dict[str, Any] = contents.header.get("metadata", {})
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
    if template not in generators:
        generators[template] = make_generator(template, settings.paths.risk_dir, settings.paths.templates_dir,
                                              settings.notes)
    try:
        note = replace(generators[template].generate(segments, facts, template, purposes), banner=RECOVERED_BANNER)
    except ConfigError as exc:  # the template the session used is not installed here
        log.error("journal_template_unavailable", session_id=session_id, template=template)
        return Recovered(path, None, 0, f"note template {template!r} of session {session_id}: {exc}. Fix: install "
                         f"that template in {settings.paths.templates_dir}, then run `sessionbot recover`.", "failed")
    stem = str(metadata.get("stem") or session_id)
    if Path(stem).name != stem or stem.startswith("."):
        stem = session_id  # a file name, never a path
    markdown, _ = write_note(note, settings.paths.output_dir, settings.notes.include_transcript, stem + ".recovered")
    claim.delete()
    log.info("session_recovered", session_id=session_id, segments=len(segments), template=template,
             corrupt_tail=contents.corrupt_tail)
    return Recovered(path, markdown, len(segments))


def _consented(contents: JournalContents, settings: Settings) -> tuple[frozenset[str], str]:
    """The purposes and note template the session ran with, from the journal's header."""
    metadata = contents.header.get("metadata", {})
    session_id = contents.header["session_id"]
    missing = [name for name in ("purposes", "note_template") if name not in metadata]
    if missing:  # written before headers recorded them
        log.warning("journal_recovered_with_current_settings", session_id=session_id, missing=missing)
    try:
        purposes = ConsentSettings(purposes=metadata.get("purposes", settings.consent.purposes)).purposes
        template = SessionSettings(note_template=metadata.get("note_template", settings.session.note_template))
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in error["loc"][:1]) for error in exc.errors()})
        raise JournalError(
            f"{contents.path}: the journal header's {', '.join(fields)} is not valid for this sessionbot. "
            "Fix: recover it with the sessionbot version that wrote it."
        ) from None
    return frozenset(purposes), template.note_template
