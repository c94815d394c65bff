"""The one interface every call platform implements (embedded room, Janus, …)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from bot.transcribe.segment import Participant


@dataclass(frozen=True)
class ParticipantJoined:
    participant: Participant


@dataclass(frozen=True)
class ParticipantLeft:
    participant: Participant


@dataclass(frozen=True)
class AudioTrackReceived:
    participant: Participant
    track: MediaStreamTrack


@dataclass(frozen=True)
class TextReceived:
    participant: Participant
    text: str


@dataclass(frozen=True)
class LeaveRequested:
    """A participant pressed the page's "Ask the assistant to leave" button: an objection."""

    participant: Participant


@dataclass(frozen=True)
class ConsentAnswered:
    """A participant's answer to the join-time consent question (`consent.ask_on_join`)."""

    participant: Participant
    agreed: bool


@dataclass(frozen=True)
class CallEnded:
    reason: str


@dataclass(frozen=True)
class ConnectionLost:
    """Signalling (and so media) dropped; the connector is rejoining. Audio until
    ConnectionRestored is not heard: the session records the gap."""

    reason: str


@dataclass(frozen=True)
class ConnectionRestored:
    downtime_s: float


CallEvent = (
    ParticipantJoined | ParticipantLeft | AudioTrackReceived | TextReceived | CallEnded
    | ConnectionLost | ConnectionRestored | LeaveRequested | ConsentAnswered
)


@dataclass
class Delivery:
    """What of one piece of the bot's speech actually went out (not what was queued)."""

    total_s: float
    played_s: float = 0.0
    started_at: float | None = None  # time.monotonic() of its first frame sent

    @property
    def complete(self) -> bool:
        return self.total_s > 0 and self.played_s >= self.total_s - 0.02


async def until_call_ended(queue: asyncio.Queue[CallEvent]) -> AsyncIterator[CallEvent]:
    """A connector's events, from its queue, up to and including CallEnded."""
    while True:
        event = await queue.get()
        yield event
        if isinstance(event, CallEnded):
            return


class CallJoinError(Exception):
    """The call refused us or could not be reached; the message says why and what to do."""


class CallConnector(Protocol):
    """A platform adapter. The bot sends its own voice with `speak` and its text with
    `send_text`; `to` limits either to some participants where the platform can."""

    async def join(self) -> list[Participant]:
        """Join the call as a visible participant; return the others already present."""

    def events(self) -> AsyncIterator[CallEvent]:
        """Participant and media events until the call ends or we leave."""

    async def speak(self, samples: np.ndarray, rate: int, to: set[str] | None = None) -> Delivery:
        """Play int16 mono PCM into the call; returns when it has been sent, or interrupted,
        with how much of it went out."""

    def stop_speaking(self) -> None:
        """Cut whatever the bot is saying now and drop what is queued (an objection)."""

    async def send_text(self, text: str, to: set[str] | None = None) -> bool:
        """Post a chat / data-channel message; False where the platform has no chat."""

    async def ask_consent(self, text: str, to: set[str]) -> bool:
        """Ask these participants the join-time consent question (answered with ConsentAnswered);
        False where the platform cannot ask."""

    async def leave(self) -> None:
        """Leave the call; safe to call more than once."""
