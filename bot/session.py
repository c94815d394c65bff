"""SessionRunner: one session's lifecycle, and nothing else.

joining → announcing → listening ⇄ paused → ending → noting → done, or on an
objection: → objected → purging → done; `failed` is reachable from any state
with a reason. Each transition is one structured log event carrying the
session id (never any content).

Speech flows through one line of stages: track → VAD → recognizer →
**consent stage** (bot/consent/stage.py: check for an objection, then keep only
what a participant said after consent applied to them) → buffer → journal and
prefetch. Nothing reaches the buffer without passing the check first, and an
objection is honoured in every state until the note has been written.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from bot import metrics
from bot.audio.tts import SpeechRenderError, render_speech_async
from bot.call.base import (
    AudioTrackReceived,
    CallConnector,
    CallEnded,
    CallEvent,
    CallJoinError,
    ConnectionLost,
    ConnectionRestored,
    ConsentAnswered,
    Delivery,
    LeaveRequested,
    ParticipantJoined,
    ParticipantLeft,
    TextReceived,
)
from bot.config import Settings
from bot.consent.announcements import Announcements, load_announcements
from bot.consent.audit import Announced, AuditRecord, Objection, Pause, now_utc
from bot.consent.guard import ConsentEvent, ConsentGuard, rule_kind
from bot.consent.record import write_objection_record
from bot.consent.stage import ConsentStage
from bot.consent.unsure import deliver_question
from bot.log import get_logger
from bot.notes.base import Note, NoteGenerator, SessionFacts
from bot.notes.html import write_html
from bot.notes.prefetch import BackgroundPrefetch
from bot.notes.render import write_note
from bot.notes.structured import make_generator
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.journal import JournalError, JournalWriter, TranscriptJournal
from bot.transcribe.segment import Gap, Participant, Segment
from bot.transcribe.stream import ParticipantStream

log = get_logger(__name__)

ACKNOWLEDGEMENT_TIMEOUT_S = 15.0
ANNOUNCE_ATTEMPTS = 3  # an announcement cut off (the track was not up yet, a reconnect) is played again
ANNOUNCE_RETRY_S = 2.0
CONSENT_EVENTS = (TextReceived, LeaveRequested, ConsentAnswered, ParticipantLeft)


class State(StrEnum):
    SCHEDULED = "scheduled"
    JOINING = "joining"
    ANNOUNCING = "announcing"
    LISTENING = "listening"
    PAUSED = "paused"
    OBJECTED = "objected"
    PURGING = "purging"
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
    objection: Objection | None = None
    note: Note | None = None
    note_markdown: Path | None = None
    note_json: Path | None = None
    note_html: Path | None = None
    audit: Path | None = None
    duration_s: float = 0.0
    gaps: list[dict[str, object]] = field(default_factory=list)  # {"from_s", "to_s", "reason"}: not heard


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
        journal_key: bytes | None = None,
        scheduled_end: datetime | None = None,
    ) -> None:
        self.settings = settings
        self.scheduled_end = scheduled_end
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.state = State.SCHEDULED
        self._connector = connector
        self._engine = engine
        self._generator = generator or make_generator(
            settings.session.note_template, settings.paths.risk_dir, settings.paths.templates_dir, settings.notes
        )
        # Embed what was said while the session runs, so the note at the end does not leave any of it out for time.
        self._prefetch = (BackgroundPrefetch(self._generator, settings.session.language)  # type: ignore[arg-type]
                          if "notes" in settings.consent.purposes and BackgroundPrefetch.supported(self._generator)
                          else None)
        self._progress = on_progress or (lambda _event, _data: None)
        language = settings.session.language
        self._announcements: Announcements = load_announcements(settings.paths.announcements_dir, language)
        self._guard = ConsentGuard(settings.consent, settings.paths.announcements_dir, language)
        self.audit = AuditRecord(
            session_id=self.session_id, mode=settings.consent.mode, purposes=list(settings.consent.purposes),
            written_consent_ref=settings.consent.written_consent_ref, language=language,
            sensitivity=settings.consent.objection_sensitivity,
        )
        self.buffer = TranscriptBuffer(self.session_id)
        self._started_wall = datetime.now(UTC)
        self._started = time.monotonic()
        self._present: dict[str, Participant] = {}
        self._seen: dict[str, Participant] = {}
        self._announced: dict[str, str] = {}
        self._streams: dict[str, ParticipantStream] = {}
        self._readers: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._stop_requested: asyncio.Event | None = None
        self._stop_reason = ""
        self._objection: Objection | None = None
        self._acknowledgement: asyncio.Future[Delivery] | None = None
        self._note_delivered = False
        self._journal_key = journal_key if settings.journal.enabled else None
        self._journal: TranscriptJournal | None = None
        self._journal_writer: JournalWriter | None = None
        self._gaps: list[dict[str, object]] = []
        self._lost: tuple[float, str] | None = None  # connection lost at (session seconds, reason)
        self.consent = ConsentStage(
            self._guard, self.buffer, self.audit, clock=self.clock, act=self._act, spawn=self._spawn,
            progress=self._progress, known=self._seen, objected=lambda: self._objection is not None,
            language=language, ask_unsure=lambda p: deliver_question(
                self._connector, self._announcements, self.settings.bot.display_name, p),
        )
        self.buffer.subscribe(self._on_stored)

    @property
    def stem(self) -> str:
        """File-name stem shared by the note, the audit record and an objection record."""
        return f"{self._started_wall.strftime('%Y%m%dT%H%M%S')}-{self.session_id}"

    def clock(self) -> float:
        return time.monotonic() - self._started

    def _transition(self, state: State, **details: object) -> None:
        log.info("session_state", state=state.value, previous=self.state.value, **details)
        metrics.session_state_changed(self.state.value, state.value)
        self.state = state
        self._progress("state", {"state": state.value, **details})

    def request_stop(self, reason: str) -> None:
        """Leave politely and write the note for what was transcribed (e.g. on SIGTERM)."""
        if not self._stop_reason:
            self._stop_reason = reason
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def run(self) -> SessionResult:
        with structlog.contextvars.bound_contextvars(session_id=self.session_id):
            return await self._run()

    async def _run(self) -> SessionResult:
        refusal = self._guard.refusal()
        if refusal is not None:
            return self._refuse(refusal)
        self._transition(State.JOINING)
        # Embedding the objection examples takes seconds: do it while we join and announce (off the loop).
        self._spawn(self._guard.warm_async())
        name = self.settings.bot.display_name
        a = self._announcements
        try:
            # Render before joining, so the announcement starts the moment media flows.
            self._speech = {
                kind: await render_speech_async(a.spoken_for(kind, name), a.voice, a.words_per_minute)
                for kind in ("announcement", "late_joiner", "acknowledgement")
            }
            await asyncio.wait_for(self._connector.join(), self.settings.leave.waiting_room_timeout_s)
        except TimeoutError:
            self._transition(State.FAILED, reason="waiting_room_timeout")
            self.audit.outcome = "failed: not admitted within leave.waiting_room_timeout_s"
            return SessionResult(self.session_id, self.state, "waiting room timeout", audit=self._write_audit())
        except (CallJoinError, SpeechRenderError) as exc:
            self._transition(State.FAILED, reason=type(exc).__name__)
            self.audit.outcome = f"failed: {exc}"
            return SessionResult(self.session_id, self.state, str(exc), audit=self._write_audit())
        self._started = time.monotonic()
        self._started_wall = datetime.now(UTC)
        self._open_journal()
        self._transition(State.ANNOUNCING)
        reason = "call ended"
        try:
            reason = await self._listen()
        except Exception as exc:  # noqa: BLE001 - keep what was transcribed, whatever broke
            # Type only: an exception message could quote what was said.
            log.error("session_error", error=type(exc).__name__)
            reason = f"error: {type(exc).__name__}"
        if self._objection is not None:
            return await self._finish_after_objection()
        return await self._finish(reason)

    def _open_journal(self) -> None:
        """After joining: a session that never joined leaves no journal behind."""
        if self._journal_key is None:
            log.warning("journal_disabled", reason="no key" if self.settings.journal.enabled else "configured off")
            return
        self._journal = TranscriptJournal(
            self.settings.journal.directory, self.session_id, self._journal_key,
            metadata={"language": self.settings.session.language, "consent_mode": self.settings.consent.mode,
                      "stem": self.stem, "started_utc": self._started_wall.isoformat(timespec="seconds"),
                      "purposes": list(self.settings.consent.purposes),
                      "note_template": self.settings.session.note_template},
        )
        self._journal_writer = JournalWriter(self._journal)
        self.buffer.subscribe(self._journal_writer)  # the buffer holds only what passed the consent stage

    def _journal_do(self, action: Callable[[TranscriptJournal], None]) -> None:
        if self._journal is None or self._journal.closed:
            return
        try:
            action(self._journal)
        except JournalError as exc:
            log.error("journal_write_failed", error=type(exc).__name__)

    def _refuse(self, reason: str) -> SessionResult:
        self._transition(State.FAILED, reason=f"consent_{self.settings.consent.mode}")
        self.audit.outcome = f"not joined: {reason}"
        return SessionResult(self.session_id, self.state, reason, audit=self._write_audit())

    # -- listening ---------------------------------------------------------------

    async def _listen(self) -> str:
        events = self._connector.events().__aiter__()
        self._stop_requested = asyncio.Event()
        if self._stop_reason:
            return self._stop_reason
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            return await self._next_events(events, stop)
        finally:
            stop.cancel()

    def _deadline(self) -> tuple[float, str]:
        """Session clock time at which the bot leaves whoever is still there, and why."""
        leave = self.settings.leave
        deadline, reason = leave.max_duration_s, "hard maximum duration reached"
        if self.scheduled_end is not None:
            end = (self.scheduled_end - self._started_wall).total_seconds() + leave.scheduled_end_grace_s
            if end < deadline:
                deadline, reason = end, "scheduled end passed"
        return deadline, reason

    async def _next_events(self, events: AsyncIterator[CallEvent], stop: asyncio.Future[bool]) -> str:
        leave = self.settings.leave
        deadline, deadline_reason = self._deadline()
        while True:
            if self._present:
                timeout, reason = None, ""
            elif self._seen:
                timeout, reason = leave.everyone_left_grace_s, "everyone else left"
            else:
                timeout, reason = max(0.0, leave.nobody_joined_timeout_s - self.clock()), "nobody joined"
            if timeout is None or deadline - self.clock() < timeout:
                timeout, reason = max(0.0, deadline - self.clock()), deadline_reason
            following = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({following, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                following.cancel()
                return self._stop_reason
            if not done:
                following.cancel()
                return reason
            try:
                event: CallEvent = following.result()
            except StopAsyncIteration:
                return "call ended"
            if isinstance(event, CallEnded):
                return event.reason
            self._handle(event)

    def _handle(self, event: CallEvent) -> None:
        if isinstance(event, ParticipantJoined):
            self._joined(event.participant)
        elif isinstance(event, ParticipantLeft):
            self._present.pop(event.participant.id, None)
            self.consent.admissions.left(event.participant.id, self.clock())
            self._stop_reading(event.participant.id)
            log.info("participant_left", participant_id=event.participant.id, present=len(self._present))
            self._progress("participant_left", {"participant": event.participant})
        elif isinstance(event, AudioTrackReceived):
            self._start_stream(event)
        elif isinstance(event, ConnectionLost):
            log.warning("connection_lost", reason=event.reason)
            self._lost = self._lost or (self.clock(), event.reason)
            self._progress("connection_lost", {"reason": event.reason})
        elif isinstance(event, ConnectionRestored):
            log.info("connection_restored", downtime_s=round(event.downtime_s, 2))
            self._close_gap()
            self._progress("connection_restored", {"downtime_s": event.downtime_s})
        elif isinstance(event, TextReceived):
            log.info("chat_received", participant_id=event.participant.id, chars=len(event.text))
            self.consent.text(event.participant, event.text)
        elif isinstance(event, LeaveRequested):
            log.info("leave_requested", participant_id=event.participant.id)
            self.consent.leave_requested(event.participant)
        elif isinstance(event, ConsentAnswered):
            self.consent.answered(event.participant, event.agreed)

    def _joined(self, p: Participant) -> None:
        self._present[p.id] = p
        if p.id not in self._seen:
            self._journal_do(lambda journal: journal.append_participant(p))
        self._seen[p.id] = p
        admission = self.consent.admissions.joined(p, self.clock())
        log.info("participant_joined", participant_id=p.id, role=p.role, present=len(self._present))
        self._progress("participant_joined", {"participant": p})
        if self.settings.consent.ask_on_join and not admission.must_answer and admission.agreed_at_s is None:
            question = self._announcements.text.consent_question
            self._spawn(self.consent.ask(p, question and question.format(name=self.settings.bot.display_name),
                                         lambda text, to: self._connector.ask_consent(text, to=to)))
        if p.id not in self._announced:
            # Whoever arrives once the first announcement is over gets the shorter one.
            kind = "late_joiner" if self.state in (State.LISTENING, State.PAUSED) else "announcement"
            self._announced[p.id] = kind
            self._spawn(self._announce(p, kind))

    def _start_stream(self, event: AudioTrackReceived) -> None:
        p = event.participant
        if p.id in self._streams:
            log.info("audio_track_replaced", participant_id=p.id)
            self._stop_reading(p.id)  # the old track may never end by itself: its reader would be orphaned
        stream = ParticipantStream(
            p, self._engine, self.consent.final, self.settings.vad,
            self.settings.transcription.language or self.settings.session.language, self.clock,
            session_id=self.session_id,
            prompt=self._announcements.asr_prompt if self.settings.transcription.consent_prompt else None,
            on_partial=self.consent.partial, on_unsure=self.consent.unsure, on_lost=self.consent.lost,
            on_missing=self._audio_missing, second_look=self._guard.deserves_second_look,
        )
        self._streams[p.id] = stream
        self._spawn(self._transcribe(stream, event))

    def _on_stored(self, segment: Segment) -> None:
        """After the consent stage kept a segment: show it, and embed it for the note ahead of time."""
        self._progress("segment", {"segment": segment})
        if self._prefetch is not None and self._objection is None:
            worker = self._prefetch.add(segment)
            if worker is not None:  # awaited with the other tasks before the note is drafted
                self._tasks.add(worker)
                worker.add_done_callback(self._tasks.discard)

    def _act(self, event: ConsentEvent) -> None:
        if event.action == "objection":
            if self._objection is not None:
                return
            if self._note_delivered:
                log.warning("objection_after_note", participant_id=event.participant.id, source=event.source)
                self.audit.late_objection = (
                    f"participant {event.participant.display_name} objected ({event.source}) at "
                    f"{now_utc()}, after the note had been delivered: it was not withdrawn automatically")
                return
            self._object(event)
            return
        if self._objection is not None or self.state in (State.ENDING, State.NOTING, State.DONE):
            return
        if event.action == "stop":
            log.info("clinician_command", command="stop", participant_id=event.participant.id)
            self.request_stop("stopped by the clinician")
        elif event.action == "pause" and self.state != State.PAUSED:
            log.info("clinician_command", command="pause", participant_id=event.participant.id)
            self.audit.pauses.append(Pause(by=event.participant.display_name, paused_at_s=round(self.clock(), 2)))
            self._transition(State.PAUSED, by=event.participant.id)
        elif event.action == "resume" and self.state == State.PAUSED:
            log.info("clinician_command", command="resume", participant_id=event.participant.id)
            pause = self.audit.pauses[-1]
            pause.resumed_at_s = round(self.clock(), 2)
            self._journal_do(lambda j: j.append_gap(pause.paused_at_s, pause.resumed_at_s or 0.0, "paused by clinician"))
            self._transition(State.LISTENING, by=event.participant.id)

    def _object(self, event: ConsentEvent) -> None:
        """Stop at once: cut what the bot is saying, acknowledge, keep nothing already held."""
        p = event.participant
        decided = time.monotonic()
        self._objection = Objection(
            participant_id=p.id, display_name=p.display_name, role=p.role, source=event.source,
            at_s=round(self.clock(), 2), at_utc=now_utc(), language=event.language,
            utterance_end_s=event.utterance_end_s, decided_by=rule_kind(event.rule),
        )
        self._connector.stop_speaking()
        self._acknowledgement = asyncio.ensure_future(self._acknowledge(decided))
        for stream in self._streams.values():
            stream.discard()
        # Marked before the purge: a crash in between must never turn this journal into a note.
        self._journal_do(lambda journal: journal.mark_objection())
        dropped = self.buffer.purge()
        if self._prefetch is not None:
            self._prefetch.forget()  # vectors derived from what was said go with it
        if self._journal is not None:
            self._journal.delete()  # at once, not after the spoken acknowledgement
        latency = {"decision_s": round(self._objection.at_s - event.utterance_end_s, 2)} if event.utterance_end_s else {}
        self._transition(State.OBJECTED, participant_id=p.id, source=event.source, decided_by=self._objection.decided_by,
                         segments_dropped=dropped, **latency)
        self.request_stop("objection")

    async def _acknowledge(self, decided: float) -> Delivery:
        samples, rate = self._speech["acknowledgement"]
        speaking = asyncio.ensure_future(self._connector.speak(samples, rate))
        await self._connector.send_text(self._announcements.text_for("acknowledgement", self.settings.bot.display_name))
        delivery = await speaking
        objection = self._objection
        if objection is not None and delivery.started_at is not None:
            objection.acknowledgement_after_s = round(delivery.started_at - decided, 3)
            log.info("acknowledgement_started", latency_s=objection.acknowledgement_after_s)
        if objection is not None:
            objection.acknowledgement_played_s = round(delivery.played_s, 2)
            objection.acknowledgement_total_s = round(delivery.total_s, 2)
        return delivery

    async def _announce(self, participant: Participant, kind: str) -> None:
        samples, rate = self._speech[kind]
        name = self.settings.bot.display_name
        posted = await self._connector.send_text(self._announcements.text_for(kind, name), to={participant.id})
        for attempt in range(1, ANNOUNCE_ATTEMPTS + 1):
            # While it plays and shortly after, "turn that thing off" means the assistant (consent.context_s).
            self._guard.context.bot_speaking(self.clock(), self.clock() + samples.size / rate)
            delivery = await self._connector.speak(samples, rate, to={participant.id})
            if self._objection is not None or self.state not in (State.ANNOUNCING, State.LISTENING, State.PAUSED):
                return
            finished_s = self.clock()  # one instant for the audit and the admission: the note's gap ends there
            self.audit.announced.append(Announced(
                participant.id, participant.display_name, participant.role, kind, round(finished_s, 2), now_utc(),
                played_s=round(delivery.played_s, 2), total_s=round(delivery.total_s, 2),
                complete=delivery.complete, chat_posted=bool(posted),
            ))
            log.info("announcement_played", participant_id=participant.id, kind=kind, complete=delivery.complete,
                     played_s=round(delivery.played_s, 1), audio_s=round(delivery.total_s, 1), attempt=attempt)
            if delivery.complete:
                self.consent.admissions.announced(participant.id, finished_s)
                self._progress("announced", {"participant": participant, "kind": kind})
                if self.state == State.ANNOUNCING:
                    self._transition(State.LISTENING)
                return
            if participant.id not in self._present:
                return
            await asyncio.sleep(ANNOUNCE_RETRY_S)
        log.warning("announcement_not_delivered", participant_id=participant.id, kind=kind)

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

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ending ------------------------------------------------------------------

    def _note_gaps(self) -> tuple[Gap, ...]:
        gaps = [Gap(float(g["from_s"]), float(g["to_s"]), str(g["reason"])) for g in self._gaps]  # type: ignore[arg-type]
        gaps += [Gap(p.paused_at_s, p.resumed_at_s if p.resumed_at_s is not None else self.clock(), "paused by clinician")
                 for p in self.audit.pauses]
        gaps += self.consent.admissions.gaps(self.clock())
        gaps += [Gap(u.from_s, u.to_s, u.reason) for u in self.audit.untranscribed]
        return tuple(sorted(gaps, key=lambda g: g.from_s))

    def _audio_missing(self, participant: Participant, start_s: float, end_s: float) -> None:
        """A participant's audio stopped arriving (a blackout on their side) while the call went on."""
        log.warning("audio_missing", participant_id=participant.id, seconds=round(end_s - start_s, 2))
        gap = {"from_s": round(start_s, 2), "to_s": round(end_s, 2),
               "reason": f"no audio received from {participant.display_name} (network)"}
        self._gaps.append(gap)
        self._journal_do(lambda j: j.append_gap(start_s, end_s, str(gap["reason"])))

    def _close_gap(self) -> None:
        """What was said while the connection was down was never heard: say so in the transcript."""
        if self._lost is None:
            return
        (lost_at, reason), self._lost = self._lost, None
        gap = {"from_s": round(lost_at, 2), "to_s": round(self.clock(), 2), "reason": f"connection lost: {reason}"}
        self._gaps.append(gap)
        self._journal_do(lambda j: j.append_gap(lost_at, float(gap["to_s"]), str(gap["reason"])))  # type: ignore[arg-type]

    async def _settle(self) -> None:
        """Wait for every utterance still in the recognizer and every consent check, while still
        reading the call's consent events (chat, the leave button), so an objection made in the
        last moments is honoured before anything is written."""
        reading = asyncio.ensure_future(self._consent_events_meanwhile())
        try:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            reading.cancel()

    async def _consent_events_meanwhile(self) -> None:
        async for event in self._connector.events():
            if isinstance(event, CallEnded):
                return
            if isinstance(event, CONSENT_EVENTS):
                self._handle(event)

    async def _finish_after_objection(self) -> SessionResult:
        objection = self._objection
        assert objection is not None
        self._transition(State.PURGING)
        self._stop_reading()
        acknowledged = False
        if self._acknowledgement is not None:
            try:  # said out loud and in writing before leaving
                delivery = await asyncio.wait_for(asyncio.shield(self._acknowledgement), ACKNOWLEDGEMENT_TIMEOUT_S)
                acknowledged = delivery.complete
            except TimeoutError:
                log.warning("acknowledgement_timeout")
        await self._connector.leave()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        dropped = self.buffer.purge()  # anything that raced in after the objection
        self.audit.objection = objection
        self.audit.outcome = "stopped on objection; nothing retained"
        record = write_objection_record(self.settings.paths.output_dir, self.stem, self.session_id, objection,
                                        acknowledged)
        audit = self._write_audit()
        self._transition(State.DONE, reason="objection", late_segments_dropped=dropped)
        log.info("objection_record_written", files=2)
        return SessionResult(
            self.session_id, self.state, "objection", participants=list(self._seen.values()),
            announced=dict(self._announced), objection=objection, note_markdown=record, audit=audit,
            duration_s=self.clock(),
        )

    async def _finish(self, reason: str) -> SessionResult:
        duration = self.clock()
        self._close_gap()  # the call ended while disconnected (e.g. unreachable too long)
        self._transition(State.ENDING, reason=reason)
        self._stop_reading()
        self._connector.stop_speaking()  # an announcement still playing is moot now
        # Each stream flushes its last utterance; it passes the consent stage before we leave.
        await self._settle()
        self.consent.end_questions()  # a question still open now can no longer be answered
        if self._objection is not None:  # someone objected in their very last words
            return await self._finish_after_objection()
        await self._connector.leave()
        segments = self.buffer.segments()
        result = SessionResult(
            self.session_id, self.state, reason, segments, list(self._seen.values()), dict(self._announced),
            duration_s=duration, gaps=list(self._gaps),
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
            ended_because=reason,
            gaps=self._note_gaps(),
        )
        purposes = frozenset(self.settings.consent.purposes)
        if "notes" in purposes:
            note = await asyncio.to_thread(
                self._generator.generate, segments, facts, self.settings.session.note_template, purposes
            )
            if self._objection is not None:
                return await self._finish_after_objection()
            result.note = note
            result.note_markdown, result.note_json = write_note(
                note, self.settings.paths.output_dir, self.settings.notes.include_transcript, self.stem
            )
            result.note_html = write_html(
                note, self.settings.paths.output_dir, self.settings.notes.include_transcript, self.stem
            )
        self._note_delivered = True
        # Only now is the transcript safe elsewhere: a crash before this point leaves it recoverable.
        self._journal_do(lambda journal: journal.end(reason))
        if self._journal is not None and not self.settings.journal.keep_after_note:
            self._journal.delete()
        failures = self._journal_writer.failures if self._journal_writer is not None else 0
        self.audit.outcome = f"completed: {reason}" + (f"; journal write failures: {failures}" if failures else "")
        result.audit = self._write_audit()
        self._transition(State.DONE, segments=len(segments))
        result.state = self.state
        return result

    def _write_audit(self) -> Path:
        return self.audit.write(self.settings.paths.output_dir, self.stem)
