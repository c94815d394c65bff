"""The transcript's unit: who said what, when, in which language."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Participant:
    id: str
    display_name: str
    role: str | None = None  # "clinician" | "client" | None when unknown


@dataclass(frozen=True)
class Gap:
    """Time that was not transcribed (connection lost, clinician pause), in session seconds."""

    from_s: float
    to_s: float
    reason: str  # why, never what was said


@dataclass(frozen=True)
class Segment:
    id: str
    session_id: str
    participant_id: str
    display_name: str
    role: str | None
    start: float  # seconds since the session started
    end: float
    text: str
    language: str
    confidence: float  # mean token probability, 0..1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
