"""The schedule: service settings, the sessions to join, and each session's own settings.

A schedule file (TOML, see config/schedule.example.toml) holds the service's
settings, sessions listed by hand, and iCalendar feeds. Every session's
settings are the base configuration with the session's overrides applied,
validated by the same rules, so a bad value is refused with the key and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config import ConfigError, Settings, _describe, default_state_dir, settings_from_mapping

CLINICIAN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LINK_PATTERN = re.compile(r"^(https?|janus(\+wss?)?)://", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceSettings(_Strict):
    lead_s: float = Field(60.0, ge=0, le=3600, description="Join this long before the scheduled start.")
    reload_s: float = Field(30.0, gt=0, le=3600, description="How often the schedule and calendars are re-read.")
    tick_s: float = Field(1.0, gt=0, le=60, description="How often the service checks what is due.")
    horizon_days: float = Field(14.0, gt=0, le=366, description="How far ahead recurring events are expanded.")
    join_retry_initial_s: float = Field(5.0, gt=0, le=600, description="First wait before retrying a failed join.")
    join_retry_max_s: float = Field(60.0, gt=0, le=3600, description="Longest wait between join attempts (doubling).")
    notes_root: Path = Field(Path("notes"), description="Notes go to <notes_root>/<clinician>/.")
    state_file: Path = Field(
        default_factory=lambda: default_state_dir() / "service.json",
        description="Content-free state read by `sessionbot status`.",
    )


class WebhookSettings(_Strict):
    url: str = Field(..., pattern=r"^https?://", description="Where each note's JSON is POSTed.")
    secret_file: Path | None = Field(None, description="HMAC key file (0600); or set SESSIONBOT_WEBHOOK_SECRET.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Longest wait for the answer to one POST.")
    retry_initial_s: float = Field(2.0, gt=0, le=3600, description="First wait after a failed POST.")
    retry_max_s: float = Field(300.0, gt=0, le=86_400, description="Longest wait between POSTs (doubling).")
    allow_insecure_url: bool = Field(
        False, description="Accept a plain http:// url off this machine: every note then crosses the network readable."
    )


class RetentionSettings(_Strict):
    sweep_every_s: float = Field(3600.0, gt=0, description="How often the retention sweep runs.")
    journals_keep_s: float = Field(0.0, ge=0, description="Ended journals (journal.keep_after_note) kept this long.")
    notes_keep_days: float | None = Field(
        None, gt=0, description="Delete delivered notes older than this from the clinician directories; unset = keep."
    )


class CalendarSource(_Strict):
    source: str = Field(..., min_length=1, description="A local .ics file or an https:// URL.")
    clinician: str = Field(..., pattern=CLINICIAN_PATTERN, description="Clinician of events that name none.")


class SessionEntry(_Strict):
    id: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$",
                    description="Shown in logs and `sessionbot status`: never a client's name.")
    link: str = Field(..., min_length=8, description="An embedded-room http(s):// link or a janus:// link.")
    start: AwareDatetime = Field(description="Scheduled start, with a UTC offset.")
    end: AwareDatetime = Field(description="Scheduled end, with a UTC offset; after start.")
    clinician: str = Field(..., pattern=CLINICIAN_PATTERN, description="Notes go to <notes_root>/<clinician>/.")
    cancelled: bool = Field(False, description="Keep the entry but do not join (a running session is left politely).")
    consent_renewed_utc: AwareDatetime | None = Field(
        None, description="When the clinician renewed consent after a participant objected in this series (the "
        "entry's id); counts only if later than the objection. Or: `sessionbot consent renew ID`.",
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="Overrides of the base configuration.")

    @model_validator(mode="after")
    def _check(self) -> SessionEntry:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if not LINK_PATTERN.match(self.link):
            raise ValueError("link must be an embedded-room http(s):// link or a janus:// link")
        return self


class ScheduleFile(_Strict):
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    webhook: WebhookSettings | None = None
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    calendar: list[CalendarSource] = Field(default_factory=list)
    sessions: list[SessionEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class ScheduledSession:
    """One occurrence to join: a TOML entry or one expanded calendar occurrence."""

    key: str
    link: str
    start: datetime
    end: datetime
    clinician: str
    settings: Settings
    cancelled: bool = False
    source: str = "schedule"
    series: str = ""  # what later occurrences share: a calendar UID; for a schedule entry, its id (the key)
    consent_renewed_utc: datetime | None = None  # schedule entries only: a calendar event has no such key

    @property
    def series_key(self) -> str:
        return self.series or self.key

    def window_opens(self, lead_s: float) -> float:
        return self.start.timestamp() - lead_s


@dataclass
class Schedule:
    config: ScheduleFile
    sessions: dict[str, ScheduledSession] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # keys and reasons only, never event content


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# What one session may set for itself. The rest is shared by the whole process (one speech model,
# one journal key and directory tree, ICE addresses, logging), so a per-session value would be ignored.
PER_SESSION_SECTIONS = {"bot", "session", "consent", "vad", "leave", "notes", "janus"}
PER_SESSION_TRANSCRIPTION_KEYS = {"language", "consent_prompt"}


def _check_per_session(overrides: dict[str, Any], source: str) -> None:
    for section, values in overrides.items():
        if section == "transcription" and isinstance(values, dict):
            shared = sorted(set(values) - PER_SESSION_TRANSCRIPTION_KEYS)
            if shared:
                raise ConfigError(
                    f"{source}: transcription.{shared[0]} cannot be set per session (one speech model serves "
                    "every session). Fix: set it in the main configuration, or per session only "
                    f"{', '.join(sorted(PER_SESSION_TRANSCRIPTION_KEYS))}."
                )
        elif section not in PER_SESSION_SECTIONS and section != "transcription":
            raise ConfigError(
                f"{source}: {section} cannot be set per session (it is shared by the whole service). Fix: set it "
                f"in the main configuration; per session: {', '.join(sorted(PER_SESSION_SECTIONS))}, "
                "transcription.language, transcription.consent_prompt."
            )


def session_settings(
    base: Settings, overrides: dict[str, Any], clinician: str, service: ServiceSettings, source: str
) -> Settings:
    """Base settings + the session's overrides, validated like a configuration file.

    Notes go to the clinician's own directory, and so do journals, so that a
    note recovered after a crash lands where the clinician looks."""
    _check_per_session(overrides, source)
    data = _merge(base.model_dump(), overrides)
    data["paths"]["output_dir"] = service.notes_root.expanduser() / clinician
    data["journal"]["directory"] = base.journal.directory / clinician
    try:
        return settings_from_mapping(data, source)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(source) else f"{source}: {message}") from None


def parse_schedule_file(path: Path) -> ScheduleFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such schedule file. Fix: check the path (see config/schedule.example.toml).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix: correct the syntax at that line.") from None
    try:
        return ScheduleFile.model_validate(data)
    except ValidationError as exc:
        problems = "\n  ".join(_problem(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{path} is not valid:\n  {problems}") from None


def _problem(error: Any) -> str:
    if error["type"] == "missing":  # its "input" is the whole entry, links and tokens included: not shown
        return f"{'.'.join(str(part) for part in error['loc'])}: missing. Fix: add it."
    if isinstance(error.get("input"), dict):  # a whole entry failed a check: name the check, not the entry
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{'.'.join(str(part) for part in error['loc'])}: {message}. Fix: see config/schedule.example.toml."
    return _describe(error)


def load_schedule(path: Path, base: Settings, now: datetime | None = None) -> Schedule:
    """Read the schedule file and every calendar it names.

    A bad schedule file is an error (the operator's own file); a bad calendar
    event is skipped and reported, so one event cannot stop every session."""
    from bot.service.ical import load_calendar  # noqa: PLC0415 - keeps this module free of icalendar

    config = parse_schedule_file(path)
    schedule = Schedule(config)
    for entry in config.sessions:
        overrides = entry.settings
        settings = session_settings(
            base, overrides, entry.clinician, config.service, f"{path} session {entry.id!r} settings"
        )
        schedule.sessions[entry.id] = ScheduledSession(
            entry.id, entry.link, entry.start.astimezone(UTC), entry.end.astimezone(UTC), entry.clinician,
            settings, entry.cancelled, series=entry.id, consent_renewed_utc=entry.consent_renewed_utc,
        )
    now = now or datetime.now(UTC)
    for calendar in config.calendar:
        source = calendar.source
        if "://" not in source:
            resolved = (path.parent / source).expanduser()
            source = str(resolved if not Path(source).is_absolute() else Path(source))
        found, problems = load_calendar(source, calendar.clinician, base, config.service, now)
        schedule.problems.extend(problems)
        for session in found:
            schedule.sessions.setdefault(session.key, session)
    return schedule
