"""The per-session consent audit record: who was told what and when, which consent
applied, and any objection. Ids, names, roles, times and rule kinds only: never
anything that was said."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.files import write_private


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Announced:
    participant_id: str
    display_name: str
    role: str | None
    kind: str  # announcement | late_joiner
    at_s: float  # when it finished (or was cut off)
    at_utc: str
    # What was delivered, not what was queued: seconds of the speech sent to this participant,
    # of its full length, and whether the text version was posted in the chat.
    played_s: float = 0.0
    total_s: float = 0.0
    complete: bool = False
    chat_posted: bool = False


@dataclass
class Objection:
    participant_id: str
    display_name: str
    role: str | None
    source: str  # speech | text | clinician_command
    at_s: float
    at_utc: str
    language: str
    utterance_end_s: float | None = None  # spoken: end of the audio the objection was heard in
    # Which kind of rule decided (whole, pattern, cue, context, answer, semantic): never the words.
    decided_by: str | None = None
    acknowledgement_after_s: float | None = None  # decision → the acknowledgement's first frame sent
    acknowledgement_played_s: float | None = None
    acknowledgement_total_s: float | None = None

    def summary(self, clock: str) -> str:
        return f"participant {self.display_name} objected at {clock} ({self.source}); nothing retained"


@dataclass
class JoinAnswer:
    """The join-time consent question (consent.ask_on_join) and its answer."""

    participant_id: str
    display_name: str
    asked: bool  # False where the platform cannot ask (no chat/data channel)
    asked_at_s: float
    agreed: bool | None = None
    answered_at_s: float | None = None


@dataclass
class Untranscribed:
    """Speech that reached the bot but could not be transcribed, so it is not in the note."""

    participant_id: str
    from_s: float
    to_s: float
    reason: str


@dataclass
class UnsureQuestion:
    """The assistant asked whether it should leave, because an utterance may have been an
    objection (consent.ask_when_unsure). How it ended, never what was said."""

    participant_id: str
    asked_at_s: float
    asked_at_utc: str
    raised_by: str  # speech | text: where the doubtful words were
    delivered: bool | None = None  # posted in the chat or spoken; None while still being delivered
    outcome: str | None = None  # stopped | carried on | no answer | session ended | not asked
    answered_by: str | None = None  # speech | text | button (or another participant's objection: objection)
    resolved_at_s: float | None = None


@dataclass
class Pause:
    by: str
    paused_at_s: float
    resumed_at_s: float | None = None


@dataclass
class AuditRecord:
    session_id: str
    mode: str
    purposes: list[str]
    written_consent_ref: str | None
    language: str
    sensitivity: str
    announced: list[Announced] = field(default_factory=list)
    objection: Objection | None = None
    pauses: list[Pause] = field(default_factory=list)
    join_answers: list[JoinAnswer] = field(default_factory=list)
    untranscribed: list[Untranscribed] = field(default_factory=list)
    unsure_questions: list[UnsureQuestion] = field(default_factory=list)
    held_utterances: dict[str, int] = field(default_factory=dict)  # participant id → heard before consent applied
    late_objection: str | None = None  # an objection that came after the note had been delivered
    outcome: str = ""
    consent_renewed: str | None = None  # "command" | "schedule key": the first session after a declined series
    started_utc: str = field(default_factory=now_utc)
    ended_utc: str | None = None

    def write(self, output_dir: Path, stem: str) -> Path:
        self.ended_utc = self.ended_utc or now_utc()
        return write_private(output_dir / f"{stem}.audit.json", json.dumps(asdict(self), indent=2, ensure_ascii=False))
