"""The per-session, speaker-attributed transcript held in memory."""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.transcribe.segment import Participant, Segment

SegmentListener = Callable[[Segment], None]


class TranscriptBuffer:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._segments: list[Segment] = []
        self._lock = threading.Lock()
        self._listeners: list[SegmentListener] = []
        self._sealed = False

    def subscribe(self, listener: SegmentListener) -> None:
        self._listeners.append(listener)

    def append(
        self, participant: Participant, start: float, end: float, text: str, language: str, confidence: float
    ) -> Segment | None:
        with self._lock:
            if self._sealed:
                return None
            segment = Segment(
                id=f"S{len(self._segments) + 1}",
                session_id=self.session_id,
                participant_id=participant.id,
                display_name=participant.display_name,
                role=participant.role,
                start=round(start, 2),
                end=round(end, 2),
                text=text,
                language=language,
                confidence=round(confidence, 3),
            )
            self._segments.append(segment)
        for listener in self._listeners:
            listener(segment)
        return segment

    def segments(self) -> list[Segment]:
        """Segments ordered by start time (ids stay in arrival order)."""
        with self._lock:
            return sorted(self._segments, key=lambda s: (s.start, s.id))

    def __len__(self) -> int:
        return len(self._segments)

    def purge(self) -> int:
        """Objection: forget every segment and refuse any later one. Returns how many were dropped."""
        with self._lock:
            dropped = len(self._segments)
            self._segments.clear()
            self._sealed = True
        return dropped
