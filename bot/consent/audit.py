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
    at_s: float
    at_utc: str


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

    def summary(self, clock: str) -> str:
        return f"participant {self.display_name} objected at {clock} ({self.source}); nothing retained"


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
    outcome: str = ""
    consent_renewed: str | None = None  # "command" | "schedule key": the first session after a declined series
    started_utc: str = field(default_factory=now_utc)
    ended_utc: str | None = None

    def write(self, output_dir: Path, stem: str) -> Path:
        self.ended_utc = self.ended_utc or now_utc()
        return write_private(output_dir / f"{stem}.audit.json", json.dumps(asdict(self), indent=2, ensure_ascii=False))
