"""Declined series: a participant's objection is remembered per series (calendar UID, schedule entry id)
until consent is renewed, by `sessionbot consent renew` or a schedule key later than the objection; the
record is owner-only and holds ids and times only; `sessionbot status` and `consent list` show it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from bot.cli import main
from bot.service.declined import BY_COMMAND, BY_SCHEDULE_KEY, DeclinedSeriesError, DeclinedSeriesStore
from bot.service.runner import ScheduleService
from bot.service.schedule import load_schedule
from bot.service.status import ServiceStatus, format_status

DECLINED = datetime(2026, 11, 23, 15, 10, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> DeclinedSeriesStore:
    return DeclinedSeriesStore(tmp_path / "state" / "declined-series.json")


def test_an_objection_declines_the_series_in_an_owner_only_file_of_ids_and_times(store) -> None:
    assert store.admit("weekly-sam", None).join  # never declined
    store.decline("weekly-sam", "a1b2c3d4e5f6", DECLINED)
    admission = store.admit("weekly-sam", None)
    assert not admission.join and admission.record.declined_utc == "2026-11-23T15:10:30+00:00"
    assert store.admit("weekly-lee", None).join  # another series is not affected
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    [record] = json.loads(store.path.read_text())["series"].values()
    assert record == {"series": "weekly-sam", "declined_utc": "2026-11-23T15:10:30+00:00",
                      "session_id": "a1b2c3d4e5f6", "reason": "objection", "renewed_utc": None,
                      "renewed_by": None, "renewal_audited": False}


def test_renewal_by_command_admits_and_only_the_next_session_records_it(store) -> None:
    store.decline("weekly-sam", "s1", DECLINED)
    store.renew("weekly-sam", BY_COMMAND, DECLINED + timedelta(days=1))
    first = store.admit("weekly-sam", None)
    assert first.join and first.renewed_by == "command"
    assert store.admit("weekly-sam", None).renewed_by == "command"  # until a session has recorded it
    store.renewal_audited("weekly-sam")
    later = store.admit("weekly-sam", None)
    assert later.join and later.renewed_by is None


@pytest.mark.parametrize(("key", "joins"), [
    (DECLINED + timedelta(hours=1), True),
    (DECLINED - timedelta(hours=1), False),  # before the objection: not a renewal of it
    (DECLINED, False),
    (DECLINED + timedelta(microseconds=500), False),  # the same second: times are kept to the second
    (None, False),
])
def test_a_schedule_key_renews_only_if_later_than_the_objection(store, key, joins) -> None:
    store.decline("kim-weekly", "s1", DECLINED)
    admission = store.admit("kim-weekly", key)
    assert admission.join is joins
    assert admission.renewed_by == (BY_SCHEDULE_KEY if joins else None)
    assert store.read()["kim-weekly"].renewed is joins


def test_a_new_objection_after_a_renewal_declines_again_and_the_old_key_no_longer_counts(store) -> None:
    key = DECLINED + timedelta(hours=1)
    store.decline("kim-weekly", "s1", DECLINED)
    assert store.admit("kim-weekly", key).join
    store.decline("kim-weekly", "s2", DECLINED + timedelta(days=7))
    admission = store.admit("kim-weekly", key)
    assert not admission.join and admission.record.session_id == "s2"


def test_renewing_a_series_never_declined_is_an_error(store) -> None:
    with pytest.raises(KeyError):
        store.renew("nobody", BY_COMMAND, DECLINED)
    store.decline("weekly-sam", "s1", DECLINED)
    with pytest.raises(ValueError, match="not later than the decline"):
        store.renew("weekly-sam", BY_COMMAND, DECLINED - timedelta(seconds=1))


def test_an_unreadable_file_is_an_error_naming_it_and_the_fix(store) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(DeclinedSeriesError, match="declined-series.json.*Fix:"):
        store.admit("weekly-sam", None)


def test_status_lists_declined_and_renewed_series(store) -> None:
    store.decline("weekly-sam", "s1", DECLINED)
    store.decline("kim-weekly", "s2", DECLINED)
    store.renew("kim-weekly", BY_COMMAND, DECLINED + timedelta(days=1))
    text = format_status(ServiceStatus(updated_utc="2026-11-24T09:00:00+00:00"), series=store.read().values())
    assert "declined series: 1" in text and "weekly-sam  declined since 2026-11-23T15:10:30+00:00 (session s1)" in text
    assert "renewed series: 1" in text and "kim-weekly  renewed 2026-11-24T15:10:30+00:00 by command" in text


# -- the command line and the service ------------------------------------------------------------

def schedule_file(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "schedule.toml"
    path.write_text(f'[service]\nnotes_root = "{tmp_path / "notes"}"\n'
                    f'state_file = "{tmp_path / "state" / "service.json"}"\n' + body)
    return path


def test_consent_renew_and_list_on_the_command_line(tmp_path: Path, store) -> None:
    schedule = schedule_file(tmp_path)
    cli = CliRunner()
    unknown = cli.invoke(main, ["consent", "renew", "weekly-sam", "--schedule", str(schedule)])
    assert unknown.exit_code == 1 and "is not declined" in unknown.output and "Fix:" in unknown.output
    store.decline("weekly-sam", "s1", DECLINED)
    listed = cli.invoke(main, ["consent", "list", "--schedule", str(schedule)])
    assert listed.exit_code == 0 and "weekly-sam  declined since" in listed.output
    renewed = cli.invoke(main, ["consent", "renew", "weekly-sam", "--schedule", str(schedule)])
    assert renewed.exit_code == 0, renewed.output
    assert store.read()["weekly-sam"].renewed_by == "command"
    assert "weekly-sam  renewed" in cli.invoke(main, ["consent", "list", "--schedule", str(schedule)]).output
    help_text = cli.invoke(main, ["consent", "renew", "--help"]).output
    assert "UID" in help_text and "calendar" in help_text and "consent_renewed_utc" in help_text


def test_sessionbot_status_shows_the_declined_series(tmp_path: Path, store) -> None:
    schedule = schedule_file(tmp_path)
    ServiceStatus(started_utc="2026-11-23T09:00:00+00:00").write(tmp_path / "state" / "service.json")
    store.decline("weekly-sam", "s1", DECLINED)
    shown = CliRunner().invoke(main, ["status", "--schedule", str(schedule)])
    assert shown.exit_code == 0, shown.output
    assert "declined series: 1" in shown.output and "weekly-sam  declined since 2026-11-23T15:10:30" in shown.output


def entry(key: str, start: datetime, renewed: str | None = None) -> str:
    end = start + timedelta(minutes=50)
    key_line = f'consent_renewed_utc = "{renewed}"\n' if renewed else ""
    return (f'[[sessions]]\nid = "{key}"\nlink = "http://127.0.0.1:1/room/{key}?token=t"\nclinician = "rivera"\n'
            f"start = {start.isoformat()}\nend = {end.isoformat()}\n{key_line}")


def test_a_schedule_key_must_be_an_aware_time(tmp_path: Path, make_settings) -> None:
    from bot.config import ConfigError

    start = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert load_schedule(schedule_file(tmp_path, entry("s1", start, "2026-12-02T09:00:00Z")),
                         make_settings()).sessions["s1"].consent_renewed_utc == start
    with pytest.raises(ConfigError, match="consent_renewed_utc"):
        load_schedule(schedule_file(tmp_path, entry("s1", start, "2026-12-02T09:00:00")), make_settings())


async def test_the_service_does_not_start_a_declined_series_and_writes_an_audit_record(tmp_path, make_settings) -> None:
    """Only the service's decision to start a task: no engine is loaded and nothing connects. The real
    calls are in tests/integration/test_service_declined_series.py."""
    now = datetime.now(UTC).replace(microsecond=0)
    schedule = schedule_file(tmp_path, entry("kim-weekly", now) + entry("lee-1", now))
    service = ScheduleService(make_settings(), schedule, None)
    service.declined.decline("kim-weekly", "s1", now - timedelta(days=7))
    with structlog.testing.capture_logs() as logs:
        service._start_due(now.timestamp() + 1)
        service._start_due(now.timestamp() + 2)  # re-asked each tick: logged and recorded once
        try:
            assert set(service._tasks) == {"lee-1"}  # the other series is joined
        finally:
            await cancel(service)
    assert service.status.sessions["kim-weekly"].state == "declined"
    assert [e["event"] for e in logs].count("session_skipped_series_declined") == 1
    [audit] = list((tmp_path / "notes" / "rivera").glob("*.audit.json"))
    assert oct(audit.stat().st_mode & 0o777) == "0o600"
    outcome = json.loads(audit.read_text())["outcome"]
    assert outcome == (f"not joined: series declined on {(now - timedelta(days=7)).isoformat()}; "
                       "renew with `sessionbot consent renew kim-weekly`")
    service.declined.renew("kim-weekly", BY_COMMAND, now)
    service._start_due(now.timestamp() + 3)
    try:
        assert "kim-weekly" in service._tasks and service._renewed == {"kim-weekly": "command"}
        assert service.status.sessions["kim-weekly"].state == "scheduled"
    finally:
        await cancel(service)


async def cancel(service: ScheduleService) -> None:
    tasks = list(service._tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    service._tasks.clear()
