"""The long-running service behind `sessionbot run`.

On start it finishes the notes of sessions a crash interrupted, loads one
speech engine for the process, then every tick: re-reads the schedule when due,
joins each session whose window has opened (start − lead … end), retries a
failed join with doubling backoff until the window closes, leaves a session
that was cancelled, runs the retention sweep when due, and writes the
content-free state file. Each session is its own task: an exception in one is
logged by type and recorded, and never reaches another. SIGTERM/SIGINT stop
joining, ask every session to leave politely and write its note, deliver what
can be delivered, and return 0.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bot.call.base import CallJoinError
from bot.call.factory import connector_for
from bot.config import ConfigError, Settings
from bot.consent.audit import AuditRecord
from bot.executor import SessionExecutor
from bot.log import get_logger
from bot.recover import recover_all
from bot.service.declined import DeclinedSeries, DeclinedSeriesError, DeclinedSeriesStore, declined_series_file
from bot.service.delivery import NoteDelivery
from bot.service.retention import sweep
from bot.service.schedule import Schedule, ScheduledSession, load_schedule, session_settings
from bot.service.status import TERMINAL, ServiceStatus, SessionStatus, read_status
from bot.session import SessionRunner, State
from bot.transcribe.engine import TranscriptionEngine

log = get_logger(__name__)

EngineFactory = Callable[[Settings], TranscriptionEngine]


FINISHED = {"done", "failed"}  # never joined again; a cancelled session may be restored


def _load_engine(settings: Settings) -> TranscriptionEngine:
    return TranscriptionEngine(settings.transcription, settings.paths.cache_dir)


class ScheduleService:
    def __init__(
        self, base: Settings, schedule_path: Path, journal_key: bytes | None,
        engine_factory: EngineFactory = _load_engine, executor: SessionExecutor | None = None,
    ) -> None:
        self.base = base
        self.schedule_path = schedule_path
        self._key = journal_key
        self._engine_factory = engine_factory
        self._executor = executor  # None: sessions run in this process; else each elsewhere (a Kubernetes Job)
        self.schedule: Schedule = load_schedule(schedule_path, base)  # a bad file fails here, before anything runs
        self.config = self.schedule.config
        self.delivery = NoteDelivery(self.config.webhook, self.state_file.parent / "outbox")
        self.status = ServiceStatus(started_utc=datetime.now(UTC).isoformat(timespec="seconds"))
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._runners: dict[str, SessionRunner] = {}
        self._engine: TranscriptionEngine | None = None
        self._previous = read_status(self.state_file)
        self.declined = DeclinedSeriesStore(declined_series_file(self.state_file))
        self._renewed: dict[str, str] = {}  # session key → how its series' consent was renewed, for its audit

    @property
    def state_file(self) -> Path:
        return self.config.service.state_file.expanduser()

    def request_stop(self, reason: str = "stopped by operator") -> None:
        if self._stop.is_set():
            return
        log.info("service_stopping", reason=reason, running=len(self._runners))
        self.status.stopping = True
        self._stop.set()
        for runner in self._runners.values():
            runner.request_stop(reason)

    # -- start ---------------------------------------------------------------

    def _clinicians(self) -> set[str]:
        root = self.base.journal.directory
        found = {d.name for d in root.iterdir() if d.is_dir()} if root.is_dir() else set()
        return found | {s.clinician for s in self.schedule.sessions.values()}

    def recover(self) -> int:
        """Notes of sessions interrupted by a crash, into each clinician's directory."""
        if self._key is None:
            return 0
        recovered = 0
        for clinician in sorted(self._clinicians()):
            settings = session_settings(self.base, {}, clinician, self.config.service, f"clinician {clinician}")
            for result in recover_all(settings, self._key):
                if result.note is not None:
                    recovered += 1
                    self.delivery.enqueue(result.note.with_suffix(".json"), clinician)
        # A session that was running when the process died is joined again if its window is still open.
        if self._previous is not None:
            for key, previous in self._previous.sessions.items():
                if previous.state not in TERMINAL | {"scheduled"}:
                    previous.state = "interrupted"
                    previous.outcome = "the service stopped unexpectedly during this session; its journal was recovered"
                if previous.state != "scheduled":
                    self.status.sessions[key] = previous
        self.status.recovered = recovered
        log.info("service_recovered", notes=recovered)
        return recovered

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop, f"stopped by operator ({signal.Signals(signum).name})")
        try:
            await asyncio.to_thread(self.recover)
        except Exception as exc:  # noqa: BLE001 - a journal that cannot be finished must not stop today's sessions
            log.error("service_recovery_failed", error=type(exc).__name__)
        self._write_status()  # at once: the file may still show the states of a process that died
        if self._executor is None:
            self._engine = await asyncio.to_thread(self._engine_factory, self.base)
        delivering = asyncio.ensure_future(self.delivery.run(self._stop))
        service = self.config.service
        next_reload = time.monotonic() + service.reload_s
        next_sweep = time.monotonic()
        log.info("service_started", sessions=len(self.schedule.sessions))
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_reload:
                    await asyncio.to_thread(self.reload)
                    next_reload = time.monotonic() + service.reload_s
                self._start_due(time.time())
                if time.monotonic() >= next_sweep:
                    await asyncio.to_thread(self._sweep)
                    next_sweep = time.monotonic() + self.config.retention.sweep_every_s
                self._write_status()
                try:
                    await asyncio.wait_for(self._stop.wait(), service.tick_s)
                except TimeoutError:
                    pass
            if self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        finally:
            self._stop.set()
            await delivering
            self._write_status()
            if self._engine is not None:
                self._engine.close()
        log.info("service_stopped")
        return 0

    # -- schedule ------------------------------------------------------------

    def reload(self) -> None:
        try:
            schedule = load_schedule(self.schedule_path, self.base)
        except ConfigError as exc:
            # Keep running the schedule we have: a typo must not cancel today's sessions.
            log.error("schedule_reload_failed", error=type(exc).__name__)
            self.status.schedule_problems = len(str(exc).splitlines())
            return
        changed = len(schedule.sessions) != len(self.schedule.sessions)
        self.schedule = schedule
        self.status.schedule_problems = len(schedule.problems)
        for key, runner in list(self._runners.items()):
            session = schedule.sessions.get(key)
            if session is None or session.cancelled:
                log.info("session_cancelled_while_running", session_key=key)
                runner.request_stop("cancelled in the schedule")
        log.info("schedule_reloaded", sessions=len(schedule.sessions), changed=changed)

    def _start_due(self, now: float) -> None:
        lead = self.config.service.lead_s
        for key, session in self.schedule.sessions.items():
            known = self.status.sessions.get(key)
            if known is not None and key not in self._tasks and _moved_later(known, session, now):
                known = None  # a schedule entry given a later date: the next occurrence of its series
            if key in self._tasks or (known is not None and known.state in FINISHED):
                continue
            entry = known or SessionStatus(key, session.clinician, session.start.isoformat(), session.end.isoformat(),
                                           "scheduled")
            self.status.sessions[key] = entry
            if session.cancelled:
                if entry.state != "cancelled":
                    entry.state, entry.outcome = "cancelled", "cancelled in the schedule; not joined"
                    log.info("session_not_joined", session_key=key, reason="cancelled")
                continue
            if entry.state == "cancelled":  # cancelled, then restored in the schedule
                entry.state, entry.outcome = "scheduled", ""
            if session.window_opens(lead) <= now < session.end.timestamp():
                if self._admitted(session, entry):
                    self._tasks[key] = asyncio.ensure_future(self._attend(session, entry))
            elif now >= session.end.timestamp() and entry.state == "scheduled":
                entry.state, entry.outcome = "failed", "window passed before the service could join"
        for key in [k for k in self.status.sessions if k not in self.schedule.sessions]:
            if self.status.sessions[key].state == "scheduled":
                del self.status.sessions[key]  # removed from the schedule before it began

    # -- declined series -------------------------------------------------------

    def _admitted(self, session: ScheduledSession, entry: SessionStatus) -> bool:
        """Not while its series stands declined; re-asked every tick, so a renewal lets it join at once."""
        try:
            admission = self.declined.admit(session.series_key, session.consent_renewed_utc)
        except (DeclinedSeriesError, OSError) as exc:
            # Whether someone declined this series is unknown: consent first, so not joined.
            waiting = f"waiting: {exc}"
            if entry.outcome != waiting:
                log.error("declined_series_unreadable", session_key=session.key, error=type(exc).__name__)
                entry.outcome = waiting
            return False
        if not admission.join:
            assert admission.record is not None
            if entry.state != "declined":
                entry.state, entry.outcome = "declined", admission.record.not_joined_reason()
                log.info("session_skipped_series_declined", session_key=session.key,
                         declined_utc=admission.record.declined_utc)
                self._write_declined_audit(session, admission.record)
            return False
        if entry.state == "declined" or entry.outcome.startswith("waiting: "):
            entry.state, entry.outcome = "scheduled", ""
        if admission.renewed_by is not None:
            log.info("series_consent_renewed", session_key=session.key, renewed_by=admission.renewed_by)
            self._renewed[session.key] = admission.renewed_by
        return True

    def _write_declined_audit(self, session: ScheduledSession, record: DeclinedSeries) -> None:
        consent = session.settings.consent
        session_id = uuid.uuid4().hex[:12]
        audit = AuditRecord(
            session_id=session_id, mode=consent.mode, purposes=list(consent.purposes),
            written_consent_ref=consent.written_consent_ref, language=session.settings.session.language,
            sensitivity=consent.objection_sensitivity, outcome=record.not_joined_reason(),
        )
        try:
            audit.write(session.settings.paths.output_dir, f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{session_id}")
        except OSError as exc:
            log.error("audit_write_failed", session_key=session.key, error=type(exc).__name__)

    def _record_consent(self, session: ScheduledSession, session_id: str, result_state: State,
                        objected_utc: str | None, renewed_by: str | None) -> None:
        try:
            if objected_utc is not None:
                self.declined.decline(session.series_key, session_id, datetime.fromisoformat(objected_utc))
                log.info("series_declined", session_id=session_id)
                self._renewed.pop(session.key, None)
            elif renewed_by is not None and result_state == State.DONE:
                self.declined.renewal_audited(session.series_key)
                self._renewed.pop(session.key, None)
        except (DeclinedSeriesError, OSError) as exc:
            # Loud: a decline not recorded means the next occurrence would be joined.
            log.error("declined_series_write_failed", error=type(exc).__name__, path=str(self.declined.path))

    # -- one session -----------------------------------------------------------

    async def _attend(self, session: ScheduledSession, entry: SessionStatus) -> None:
        with structlog.contextvars.bound_contextvars(session_key=session.key):
            try:
                await self._attend_until_window_closes(session, entry)
            except Exception as exc:  # noqa: BLE001 - one session's failure must not reach the others
                log.error("session_task_failed", error=type(exc).__name__)
                entry.state, entry.outcome = "failed", f"error: {type(exc).__name__}"
            finally:
                self._runners.pop(session.key, None)
                self._tasks.pop(session.key, None)
                self._write_status()

    async def _attend_until_window_closes(self, session: ScheduledSession, entry: SessionStatus) -> None:
        service = self.config.service
        backoff = service.join_retry_initial_s
        reasons: list[str] = []
        while not self._stop.is_set():
            entry.attempts += 1
            entry.state = "joining"
            result_state, reason, note = await self._attempt(session, entry)
            if result_state == State.DONE:
                entry.state, entry.outcome = "done", reason
                if note is not None:
                    self.delivery.enqueue(note, session.clinician)
                return
            if reason.startswith("not joined"):  # consent refusal: retrying cannot change it
                entry.state, entry.outcome = "failed", reason
                return
            reasons.append(reason)
            if self._stop.is_set() or time.time() + backoff >= session.end.timestamp():
                break
            entry.state = "retrying"
            log.info("join_retry", attempt=entry.attempts, wait_s=backoff)
            try:
                await asyncio.wait_for(self._stop.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, service.join_retry_max_s)
        entry.state = "failed"
        entry.outcome = f"could not join after {entry.attempts} attempts: {reasons[-1] if reasons else 'stopped'}"
        self._write_join_record(session, entry, reasons)

    async def _attempt(self, session: ScheduledSession, entry: SessionStatus) -> tuple[State, str, Path | None]:
        if self._executor is not None:
            outcome, reason = await self._executor.run(session, self.config.service.lead_s, entry.attempts, self._stop)
            # "running": the scheduler is stopping and the Job goes on by itself, writing its own note.
            return (State.FAILED if outcome == "failed" else State.DONE), reason, None
        assert self._engine is not None
        settings = session.settings
        try:
            connector = connector_for(session.link, settings)
        except CallJoinError as exc:
            return State.FAILED, f"bad link: {exc}", None

        def progress(event: str, data: dict[str, object]) -> None:
            # A failed attempt is not yet a failed session: the retry loop decides that.
            if event == "state" and data["state"] != State.FAILED.value:
                entry.state = str(data["state"])
                self._write_status()

        runner = SessionRunner(settings, connector, self._engine, on_progress=progress, journal_key=self._key,
                               scheduled_end=session.end)
        renewed_by = self._renewed.get(session.key)
        runner.audit.consent_renewed = renewed_by
        self._runners[session.key] = runner
        if self._stop.is_set():
            runner.request_stop("stopped by operator")
        try:
            result = await runner.run()
        finally:
            self._runners.pop(session.key, None)
        self._record_consent(session, result.session_id, result.state,
                             result.objection.at_utc if result.objection is not None else None, renewed_by)
        if result.state == State.FAILED:
            outcome = runner.audit.outcome or result.reason
            return State.FAILED, outcome if outcome.startswith("not joined") else f"join failed: {result.reason}", None
        return result.state, result.reason, result.note_json

    def _write_join_record(self, session: ScheduledSession, entry: SessionStatus, reasons: list[str]) -> None:
        """What happened, for the clinician: attempts and reasons, no content."""
        from bot.files import write_private

        lines = [f"# Session not joined: {session.key}", "",
                 f"- Scheduled: {session.start.isoformat()} → {session.end.isoformat()}",
                 f"- Attempts: {entry.attempts}"]
        lines += [f"- Attempt {i}: {reason}" for i, reason in enumerate(reasons, 1)]
        name = f"{session.start:%Y%m%dT%H%M%S}-{_safe(session.key)}.not-joined.md"
        write_private(session.settings.paths.output_dir / name, "\n".join(lines) + "\n")
        log.info("session_not_joined", attempts=entry.attempts)

    # -- housekeeping ------------------------------------------------------------

    def _sweep(self) -> None:
        try:
            sweep(self.config.retention, self.base.journal.directory, self.config.service.notes_root.expanduser(),
                  self._key, self.delivery.pending_notes())
        except OSError as exc:
            log.error("retention_sweep_failed", error=type(exc).__name__)

    def _write_status(self) -> None:
        self.status.pending_deliveries = len(self.delivery.pending)
        try:
            self.status.write(self.state_file)
        except OSError as exc:
            log.error("status_write_failed", error=type(exc).__name__)


def _moved_later(known: SessionStatus, session: ScheduledSession, now: float) -> bool:
    """A finished schedule entry whose start was moved later, to a window not yet over."""
    return (known.state in TERMINAL and session.end.timestamp() > now
            and session.start > datetime.fromisoformat(known.start))


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)[:80]
