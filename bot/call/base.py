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
    | ConnectionLost | ConnectionRestored
)


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

    async def speak(self, samples: np.ndarray, rate: int, to: set[str] | None = None) -> None:
        """Play int16 mono PCM into the call; returns when it has been sent."""

    async def send_text(self, text: str, to: set[str] | None = None) -> None:
        """Post a chat / data-channel message (skipped where the platform has none)."""

    async def leave(self) -> None:
        """Leave the call; safe to call more than once."""
