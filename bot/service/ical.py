"""Sessions from an iCalendar feed (a local .ics file or an https:// URL).

Event format (documented in docs/scheduling.md and config/schedule.example.toml):
- LOCATION: the call link (embedded-room http(s):// link or janus:// link). Events
  without a call link are not sessions (lunch, holidays) and are ignored.
- DESCRIPTION: lines `key: value` for the session's settings; other lines are ignored.
  Keys: language, consent (implied | written | declined), consent_ref, purposes
  (comma-separated), template, clinician, bot_name.
- STATUS:CANCELLED (or a cancelled occurrence of a recurring event): not joined.
Recurring events (RRULE, RDATE, EXDATE, moved occurrences) are expanded by
`recurring-ical-events`; each occurrence is one session, keyed by UID and start.
The UID is the series: once a participant objects, later occurrences are not joined until
`sessionbot consent renew UID` (a calendar has no renewal key; see bot/service/declined.py).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import icalendar
import recurring_ical_events

from bot.config import ConfigError, Settings
from bot.log import get_logger
from bot.net_policy import is_loopback_host
from bot.service.schedule import (
    CLINICIAN_PATTERN,
    LINK_PATTERN,
    ScheduledSession,
    ServiceSettings,
    session_settings,
)

log = get_logger(__name__)

FETCH_TIMEOUT_S = 20.0
DESCRIPTION_LINE = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$")

# Description key → (settings section, key); value converters below.
DESCRIPTION_KEYS: dict[str, tuple[str, str]] = {
    "language": ("session", "language"),
    "template": ("session", "note_template"),
    "consent": ("consent", "mode"),
    "consent_ref": ("consent", "written_consent_ref"),
    "purposes": ("consent", "purposes"),
    "bot_name": ("bot", "display_name"),
}


class CalendarError(Exception):
    """A calendar that cannot be read at all."""


def read_calendar_text(source: str) -> bytes:
    if source.lower().startswith("http://") and not is_loopback_host(urlsplit(source).hostname or ""):
        # A feed carries call links with their tokens: never over plain HTTP across a network.
        raise CalendarError("plain http:// calendar URL. Fix: use its https:// address.")
    if source.lower().startswith(("https://", "http://")):
        try:
            response = httpx.get(source, timeout=FETCH_TIMEOUT_S, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise CalendarError(f"cannot fetch the calendar: {type(exc).__name__}") from None
        return response.content
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CalendarError(f"cannot read {source}: {exc.strerror}. Fix: check the path.") from None


def description_overrides(description: str) -> tuple[dict[str, Any], str | None]:
    """Settings overrides and clinician from `key: value` lines; unknown keys are errors."""
    overrides: dict[str, Any] = {}
    clinician: str | None = None
    for line in description.splitlines():
        match = DESCRIPTION_LINE.match(line)
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "clinician":
            if not re.match(CLINICIAN_PATTERN, value):
                raise ConfigError(f"description clinician: bad value {value!r}. Fix: letters, digits, '.', '_', '-'.")
            clinician = value
        elif key in DESCRIPTION_KEYS:
            section, name = DESCRIPTION_KEYS[key]
            parsed: Any = [p.strip() for p in value.split(",") if p.strip()] if key == "purposes" else value
            overrides.setdefault(section, {})[name] = parsed
        else:
            raise ConfigError(
                f"description key {key!r} is unknown. Fix: use one of clinician, {', '.join(DESCRIPTION_KEYS)}."
            )
    return overrides, clinician


def _utc(value: date | datetime) -> datetime | None:
    if not isinstance(value, datetime):
        return None  # an all-day event is not a session
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # floating time: read as UTC (documented)
    return value.astimezone(UTC)


def load_calendar(
    source: str, default_clinician: str, base: Settings, service: ServiceSettings, now: datetime
) -> tuple[list[ScheduledSession], list[str]]:
    """Occurrences from a day ago to the horizon, and the problems found (ids and reasons only)."""
    try:
        calendar = icalendar.Calendar.from_ical(read_calendar_text(source))
    except CalendarError as exc:
        log.error("calendar_unreadable", error=str(exc))
        return [], [f"calendar: {exc}"]
    except ValueError:
        log.error("calendar_unreadable", error="not iCalendar")
        return [], ["calendar: not valid iCalendar. Fix: export the calendar as .ics."]
    begin = now - timedelta(days=1)
    end = now + timedelta(days=service.horizon_days)
    sessions: list[ScheduledSession] = []
    problems: list[str] = []
    for event in recurring_ical_events.of(calendar).between(begin, end):
        link = str(event.get("LOCATION", "")).strip()
        if not LINK_PATTERN.match(link):
            continue
        start, finish = _utc(event.start), _utc(event.end)
        uid = str(event.get("UID", "")).strip() or "no-uid"
        if start is None or finish is None:
            continue
        key = f"{uid}@{start:%Y%m%dT%H%M%SZ}"
        try:
            overrides, clinician = description_overrides(str(event.get("DESCRIPTION", "")))
            clinician = clinician or default_clinician
            settings = session_settings(base, overrides, clinician, service, f"calendar event {key}")
        except ConfigError as exc:
            log.error("calendar_event_invalid", event_key=key)
            problems.append(f"{key}: {exc}")
            continue
        cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
        sessions.append(ScheduledSession(key, link, start, finish, clinician, settings, cancelled, "calendar",
                                         series=uid if uid != "no-uid" else key))
    return sessions, problems
