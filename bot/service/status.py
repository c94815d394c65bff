"""The service's state file: what `sessionbot status` shows. Ids, times and states only, never content."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.files import write_private
from bot.service.declined import DeclinedSeries


@dataclass
class SessionStatus:
    key: str
    clinician: str
    start: str
    end: str
    state: str  # scheduled | joining | ... (SessionRunner states) | retrying | cancelled | interrupted | declined
    attempts: int = 0
    outcome: str = ""


@dataclass
class ServiceStatus:
    pid: int = field(default_factory=os.getpid)
    started_utc: str = ""
    updated_utc: str = ""
    stopping: bool = False
    recovered: int = 0
    pending_deliveries: int = 0
    schedule_problems: int = 0
    sessions: dict[str, SessionStatus] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        self.updated_utc = datetime.now(UTC).isoformat(timespec="seconds")
        data = asdict(self)
        data["sessions"] = sorted(data["sessions"].values(), key=lambda s: (s["start"], s["key"]))
        write_private(path, json.dumps(data, indent=1))


TERMINAL = {"done", "failed", "cancelled", "interrupted", "declined"}  # declined: its series, until renewed


def read_status(path: Path) -> ServiceStatus | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    sessions = {s["key"]: SessionStatus(**s) for s in data.pop("sessions", [])}
    return ServiceStatus(**data, sessions=sessions)


def service_alive(status: ServiceStatus) -> bool:
    try:
        os.kill(status.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def format_status(status: ServiceStatus, now: datetime | None = None, series: Iterable[DeclinedSeries] = ()) -> str:
    now = now or datetime.now(UTC)
    alive = service_alive(status)
    lines = [f"service pid {status.pid}: {'running' if alive else 'not running'}"
             f"{' (stopping)' if status.stopping and alive else ''}; updated {status.updated_utc}; "
             f"recovered at start: {status.recovered}; notes awaiting the webhook: {status.pending_deliveries}"
             + (f"; schedule problems: {status.schedule_problems} (see the log)" if status.schedule_problems else "")]
    running = [s for s in status.sessions.values() if s.state not in TERMINAL | {"scheduled"}]
    upcoming = [s for s in status.sessions.values() if s.state == "scheduled" and s.end >= now.isoformat()]
    finished = [s for s in status.sessions.values() if s.state in TERMINAL]
    for title, group in (("running", running), ("upcoming", upcoming), ("finished", finished)):
        lines.append(f"{title}: {len(group)}")
        for s in sorted(group, key=lambda s: s.start):
            extra = f" attempts={s.attempts}" if s.attempts else ""
            extra += f" ({s.outcome})" if s.outcome else ""
            lines.append(f"  {s.start} → {s.end}  {s.state:<10} {s.clinician:<16} {s.key}{extra}")
    return "\n".join(lines + format_series(series))


def format_series(series: Iterable[DeclinedSeries]) -> list[str]:
    records = sorted(series, key=lambda r: r.series)
    declined = [r for r in records if not r.renewed]
    renewed = [r for r in records if r.renewed]
    lines = [f"declined series: {len(declined)}" + (" (not joined until `sessionbot consent renew KEY`, or the "
                                                   "entry's consent_renewed_utc)" if declined else "")]
    lines += [f"  {r.series}  declined since {r.declined_utc} (session {r.session_id})" for r in declined]
    lines.append(f"renewed series: {len(renewed)}")
    lines += [f"  {r.series}  renewed {r.renewed_utc} by {r.renewed_by} (declined {r.declined_utc})" for r in renewed]
    return lines
