"""Series a participant declined: not joined again until the clinician records renewed consent.

A series is what later occurrences share: a calendar event's UID (every occurrence of a recurring
event has it), or a schedule entry's id. One owner-only JSON file next to the service's state file
holds, per declined series, its key, when it was declined (UTC), the objecting session's id and the
fact that someone objected, and how and when consent was renewed: never anything that was said.
`sessionbot run` writes a decline; `sessionbot consent renew` writes a renewal, perhaps while the
service runs, so every change is a read-modify-write under an exclusive lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from bot.files import PRIVATE_FILE_MODE, ensure_private_dir, write_private

FILE_NAME = "declined-series.json"
BY_COMMAND = "command"
BY_SCHEDULE_KEY = "schedule key"


class DeclinedSeriesError(Exception):
    """The declined-series file cannot be read: which file, and the fix."""


def declined_series_file(state_file: Path) -> Path:
    """Beside the service's state file (schedule [service] state_file)."""
    return state_file.expanduser().parent / FILE_NAME


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _to_second(moment: datetime) -> datetime:
    """Times are kept to the second: compare them as kept."""
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass
class DeclinedSeries:
    series: str
    declined_utc: str
    session_id: str  # the session in which a participant objected
    reason: str = "objection"
    renewed_utc: str | None = None
    renewed_by: str | None = None  # "command" | "schedule key"
    renewal_audited: bool = False  # the first session after the renewal has recorded it in its audit

    @property
    def declined_at(self) -> datetime:
        return datetime.fromisoformat(self.declined_utc)

    @property
    def renewed(self) -> bool:
        return self.renewed_utc is not None and datetime.fromisoformat(self.renewed_utc) > self.declined_at

    def not_joined_reason(self) -> str:
        return (f"not joined: series declined on {self.declined_utc}; "
                f"renew with `sessionbot consent renew {self.series}`")


@dataclass(frozen=True)
class Admission:
    join: bool
    record: DeclinedSeries | None = None
    renewed_by: str | None = None  # set only for the first session joined after a renewal


class DeclinedSeriesStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, DeclinedSeries]:
        # write_private replaces the file atomically, so a reader without the lock sees a whole file.
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(DeclinedSeries)}
            return {key: DeclinedSeries(**{k: v for k, v in value.items() if k in known})
                    for key, value in data["series"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeclinedSeriesError(
                f"{self.path}: cannot read the declined series ({type(exc).__name__}). Fix: restore it from a "
                "backup, or delete it only once every series listed in it has renewed consent."
            ) from None

    @contextmanager
    def _changing(self) -> Iterator[dict[str, DeclinedSeries]]:
        ensure_private_dir(self.path.parent)
        lock = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = self.read()
            yield records
            data = {"series": {key: asdict(record) for key, record in sorted(records.items())}}
            write_private(self.path, json.dumps(data, indent=1))
        finally:
            os.close(lock)  # releases the lock

    def decline(self, series: str, session_id: str, at: datetime) -> DeclinedSeries:
        """A participant objected: the series is declined from `at` (any earlier renewal no longer counts)."""
        with self._changing() as records:
            record = records[series] = DeclinedSeries(series, utc_text(at), session_id)
        return record

    def renew(self, series: str, by: str, at: datetime) -> DeclinedSeries:
        """KeyError if the series was never declined; ValueError if `at` is not after the decline."""
        with self._changing() as records:
            record = records[series]
            if _to_second(at) <= record.declined_at:
                raise ValueError(f"renewal {utc_text(at)} is not later than the decline {record.declined_utc}")
            record.renewed_utc, record.renewed_by, record.renewal_audited = utc_text(at), by, False
        return record

    def admit(self, series: str, schedule_renewed: datetime | None) -> Admission:
        """May an occurrence of `series` be joined? A schedule key later than the decline renews it."""
        record = self.read().get(series)
        if record is None:
            return Admission(True)
        if not record.renewed and schedule_renewed is not None and _to_second(schedule_renewed) > record.declined_at:
            try:
                record = self.renew(series, BY_SCHEDULE_KEY, schedule_renewed)
            except (KeyError, ValueError):  # changed since it was read (declined again): ask the file as it is now
                return self.admit(series, None)
        if not record.renewed:
            return Admission(False, record)
        return Admission(True, record, None if record.renewal_audited else record.renewed_by)

    def renewal_audited(self, series: str) -> None:
        """The session after the renewal has recorded it: later ones need not."""
        with self._changing() as records:
            record = records.get(series)
            if record is not None and record.renewed:
                record.renewal_audited = True
