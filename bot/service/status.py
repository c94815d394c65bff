"""The service's state file: what `sessionbot status` shows. Ids, times and states only, never content."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.files import write_private


@dataclass
class SessionStatus:
    key: str
    clinician: str
    start: str
    end: str
    state: str  # scheduled | joining | ... (SessionRunner states) | retrying | cancelled | interrupted
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


TERMINAL = {"done", "failed", "cancelled", "interrupted"}


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


def format_status(status: ServiceStatus, now: datetime | None = None) -> str:
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
    return "\n".join(lines)
