"""SessionRunner: one session's lifecycle, and nothing else.

joining → announcing → listening → ending → noting → done, with `failed`
reachable from any state and a reason attached. Each transition is one
structured log event carrying the session id (never any content).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import structlog

from bot.audio.tts import SpeechRenderError, render_speech_async
from bot.call.base import (
    AudioTrackReceived,
    CallConnector,
    CallEnded,
    CallEvent,
    CallJoinError,
    ParticipantJoined,
    ParticipantLeft,
    TextReceived,
)
from bot.config import LeaveSettings, Settings
from bot.consent.announcements import Announcements, load_announcements
from bot.log import get_logger
from bot.notes.base import Note, NoteGenerator, SessionFacts
from bot.notes.render import write_note
from bot.notes.simple import SimpleNoteGenerator
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant, Segment
from bot.transcribe.stream import ParticipantStream

log = get_logger(__name__)


class State(StrEnum):
    SCHEDULED = "scheduled"
    JOINING = "joining"
    ANNOUNCING = "announcing"
    LISTENING = "listening"
    ENDING = "ending"
    NOTING = "noting"
    DONE = "done"
    FAILED = "failed"


@dataclass
class SessionResult:
    session_id: str
    state: State
    reason: str
    segments: list[Segment] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    announced: dict[str, str] = field(default_factory=dict)  # participant id → announcement kind
    note: Note | None = None
    note_markdown: Path | None = None
    note_json: Path | None = None
    duration_s: float = 0.0


ProgressCallback = Callable[[str, dict[str, object]], None]


class SessionRunner:
    def __init__(
        self,
        settings: Settings,
        connector: CallConnector,
        engine: TranscriptionEngine,
        *,
        session_id: str | None = None,
        generator: NoteGenerator | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.state = State.SCHEDULED
        self._connector = connector
        self._engine = engine
        self._generator = generator or SimpleNoteGenerator()
        self._progress = on_progress or (lambda _event, _data: None)
        self.buffer = TranscriptBuffer(self.session_id)
        self._announcements: Announcements = load_announcements(
            settings.paths.announcements_dir, settings.session.language
        )
        self._started_wall = datetime.now(UTC)
        self._started = time.monotonic()
        self._present: dict[str, Participant] = {}
        self._seen: dict[str, Participant] = {}
        self._announced: dict[str, str] = {}
        self._streams: dict[str, ParticipantStream] = {}
        self._readers: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop_requested: asyncio.Event | None = None
        self._stop_reason = ""
        self.buffer.subscribe(lambda segment: self._progress("segment", {"segment": segment}))

    def clock(self) -> float:
        return time.monotonic() - self._started

    def _transition(self, state: State, **details: object) -> None:
        log.info("session_state", state=state.value, previous=self.state.value, **details)
        self.state = state
        self._progress("state", {"state": state.value, **details})

    def request_stop(self, reason: str) -> None:
        """Leave politely and write the note for what was transcribed (e.g. on SIGTERM)."""
        self._stop_reason = reason
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def run(self) -> SessionResult:
        with structlog.contextvars.bound_contextvars(session_id=self.session_id):
            return await self._run()

    async def _run(self) -> SessionResult:
        self._transition(State.JOINING)
        name = self.settings.bot.display_name
        a = self._announcements
        try:
            # Render before joining, so the announcement starts the moment media flows.
            self._speech = {
                kind: await render_speech_async(a.spoken_for(kind, name), a.voice, a.words_per_minute)
                for kind in ("announcement", "late_joiner")
            }
            await self._connector.join()
        except (CallJoinError, SpeechRenderError) as exc:
            self._transition(State.FAILED, reason=type(exc).__name__)
            return SessionResult(self.session_id, self.state, str(exc))
        self._started = time.monotonic()
        self._started_wall = datetime.now(UTC)
        self._transition(State.ANNOUNCING)
        reason = "call ended"
        try:
            reason = await self._listen()
        except Exception as exc:  # noqa: BLE001 - keep what was transcribed, whatever broke
            log.exception("session_error", error=type(exc).__name__)
            reason = f"error: {type(exc).__name__}"
        return await self._finish(reason)

    async def _listen(self) -> str:
        events = self._connector.events().__aiter__()
        leave = self.settings.leave
        self._stop_requested = asyncio.Event()
        if self._stop_reason:
            return self._stop_reason
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            return await self._next_events(events, leave, stop)
        finally:
            stop.cancel()

    async def _next_events(self, events: AsyncIterator[CallEvent], leave: LeaveSettings, stop: asyncio.Future[bool]) -> str:
        while True:
            if self._present:
                timeout = None
            elif self._seen:
                timeout = leave.everyone_left_grace_s
            else:
                timeout = max(0.0, leave.nobody_joined_timeout_s - self.clock())
            following = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({following, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                following.cancel()
                return self._stop_reason
            if not done:
                following.cancel()
                return "everyone else left" if self._seen else "nobody joined"
            try:
                event: CallEvent = following.result()
            except StopAsyncIteration:
                return "call ended"
            if isinstance(event, CallEnded):
                return event.reason
            self._handle(event)

    def _handle(self, event: CallEvent) -> None:
        if isinstance(event, ParticipantJoined):
            p = event.participant
            self._present[p.id] = p
            self._seen[p.id] = p
            log.info("participant_joined", participant_id=p.id, role=p.role, present=len(self._present))
            self._progress("participant_joined", {"participant": p})
            if p.id not in self._announced:
                # Whoever arrives once the first announcement is over gets the shorter one.
                kind = "late_joiner" if self.state == State.LISTENING else "announcement"
                self._announced[p.id] = kind
                self._spawn(self._announce(p, kind))
        elif isinstance(event, ParticipantLeft):
            self._present.pop(event.participant.id, None)
            self._stop_reading(event.participant.id)
            log.info("participant_left", participant_id=event.participant.id, present=len(self._present))
            self._progress("participant_left", {"participant": event.participant})
        elif isinstance(event, AudioTrackReceived):
            p = event.participant
            if p.id in self._streams:
                log.info("audio_track_replaced", participant_id=p.id)
            stream = ParticipantStream(
                p, self._engine, self.buffer, self.settings.vad, self.settings.session.language, self.clock
            )
            self._streams[p.id] = stream
            self._spawn(self._transcribe(stream, event))
        elif isinstance(event, TextReceived):
            log.info("chat_received", participant_id=event.participant.id, chars=len(event.text))

    async def _announce(self, participant: Participant, kind: str) -> None:
        samples, rate = self._speech[kind]
        name = self.settings.bot.display_name
        await self._connector.send_text(self._announcements.text_for(kind, name), to={participant.id})
        await self._connector.speak(samples, rate, to={participant.id})
        log.info("announcement_played", participant_id=participant.id, kind=kind, audio_s=round(samples.size / rate, 1))
        self._progress("announced", {"participant": participant, "kind": kind})
        if self.state == State.ANNOUNCING:
            self._transition(State.LISTENING)

    async def _transcribe(self, stream: ParticipantStream, event: AudioTrackReceived) -> None:
        # aiortc never ends a remote track whose receiver had not started yet (a peer
        # that left mid-negotiation), so readers are also cancelled on leave.
        reader = asyncio.ensure_future(stream.consume(event.track))
        self._readers[stream.participant.id] = reader
        try:
            await asyncio.shield(reader)
        except asyncio.CancelledError:
            if not reader.cancelled():
                raise
        await stream.finish()

    def _stop_reading(self, participant_id: str | None = None) -> None:
        for pid, reader in list(self._readers.items()):
            if participant_id is None or pid == participant_id:
                reader.cancel()

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(self, reason: str) -> SessionResult:
        duration = self.clock()
        self._transition(State.ENDING, reason=reason)
        await self._connector.leave()
        self._stop_reading()
        # Each stream then flushes its last utterance and waits for its transcriptions.
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        segments = self.buffer.segments()
        result = SessionResult(
            self.session_id, self.state, reason, segments, list(self._seen.values()), dict(self._announced),
            duration_s=duration,
        )
        self._transition(State.NOTING, segments=len(segments))
        facts = SessionFacts(
            session_id=self.session_id,
            started_at=self._started_wall.isoformat(timespec="seconds"),
            duration_s=round(duration, 1),
            language=self.settings.session.language,
            participants=tuple(
                {"id": p.id, "display_name": p.display_name, "role": p.role} for p in self._seen.values()
            ),
        )
        note = await asyncio.to_thread(
            self._generator.generate, segments, facts, self.settings.session.note_template, frozenset({"notes"})
        )
        result.note = note
        result.note_markdown, result.note_json = write_note(
            note, self.settings.paths.output_dir, self.settings.notes.include_transcript
        )
        self._transition(State.DONE, statements=sum(len(s.statements) for s in note.sections))
        result.state = self.state
        return result
