"""A "no" is remembered (real service, real room server and WebRTC on 127.0.0.1, tiny.en): after a
participant objects, the service does not join the next occurrence of that series (a recurring calendar
event's UID, a schedule entry's id), while another series is joined beside it; renewed consent, by
`sessionbot consent renew` or by the entry's consent_renewed_utc later than the objection, lets it join
again and that session's audit says which way. A key earlier than the objection does not renew."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from bot.call.room import RoomConnector
from bot.call.room_server import RoomServer
from bot.cli import main
from bot.config import load_settings
from bot.service.declined import declined_series_file
from bot.service.runner import ScheduleService
from tests.e2e.service_helpers import session_toml, states, write_config, write_schedule
from tests.integration.conftest import drain, wait_for

pytestmark = pytest.mark.slow

OBJECTION = "I object to the recording, Bartholomew"  # the name: to find any trace of the words on disk


def bot_link(room: RoomServer, name: str) -> str:
    """The bot's link: the room's clinician link where the server has one (the bot role needs it)."""
    try:
        return room.link(name, "clinician").link  # type: ignore[call-arg]
    except TypeError:
        return room.link(name).link


def calendar(uid: str, link: str, starts: list[datetime], length: timedelta) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    extra = "".join(f"RDATE:{start:{stamp}}\r\n" for start in starts[1:])
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTART:{starts[0]:{stamp}}\r\nDTEND:{starts[0] + length:{stamp}}\r\n{extra}"
            f"SUMMARY:Sam\r\nLOCATION:{link}\r\nDESCRIPTION:clinician: rivera\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def write_calendar(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sam.ics"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def audits(tmp_path: Path, clinician: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "notes" / clinician).glob("*.audit.json"))]


def count(logs: list[dict], event: str) -> int:
    return sum(entry["event"] == event for entry in logs)


def bots_in(room: RoomServer, name: str) -> int:
    return sum(peer.role == "bot" for peer in room.rooms[name].peers.values())


async def participant(room: RoomServer, name: str, who: str, pumps: list[asyncio.Future[None]]) -> RoomConnector:
    connector = RoomConnector(room.link(name), who, role="client")
    await connector.join()
    pumps.append(asyncio.ensure_future(drain(connector)))
    return connector


@pytest.fixture
def captured() -> Iterator[list[dict]]:
    with structlog.testing.capture_logs() as logs:
        yield logs


async def test_a_declined_calendar_series_is_not_joined_until_renewed_by_command(tmp_path: Path, captured) -> None:
    base = load_settings(write_config(tmp_path))
    logs = captured
    async with RoomServer({"sam": "tok-sam", "lee": "tok-lee"}, port=0) as room:
        t0, length = now_s(), timedelta(minutes=10)
        ics = write_calendar(tmp_path, calendar("weekly-sam", bot_link(room, "sam"), [t0], length))
        cal = f'[[calendar]]\nsource = "{ics}"\nclinician = "rivera"\n'
        schedule = write_schedule(tmp_path, [cal])
        first, pumps = f"weekly-sam@{t0:%Y%m%dT%H%M%SZ}", []
        sam = await participant(room, "sam", "Sam", pumps)
        service = ScheduleService(base, schedule, os.urandom(32))
        running = asyncio.ensure_future(service.run())
        try:
            await wait_for(lambda: states(tmp_path).get(first) == "listening", timeout=120)
            await sam.send_text(OBJECTION)
            await wait_for(lambda: states(tmp_path).get(first) == "done", timeout=60)
            await wait_for(lambda: bots_in(room, "sam") == 0, timeout=30)
            # The calendar gains the series' next occurrence, and another series starts beside it.
            t1 = now_s()
            second = f"weekly-sam@{t1:%Y%m%dT%H%M%SZ}"
            write_calendar(tmp_path, calendar("weekly-sam", bot_link(room, "sam"), [t0, t1], length))
            lee = await participant(room, "lee", "Lee", pumps)
            write_schedule(tmp_path, [cal, session_toml("lee-1", bot_link(room, "lee"), "lee", t1, t1 + length)])
            await wait_for(lambda: states(tmp_path).get(second) == "declined"
                           and states(tmp_path).get("lee-1") == "listening", timeout=120)
            await asyncio.sleep(2.0)  # several ticks: still not joined
            assert bots_in(room, "sam") == 0 and states(tmp_path)[second] == "declined"
            assert bots_in(room, "lee") == 1
            skipped = [a for a in audits(tmp_path, "rivera") if "series declined" in a["outcome"]]
            assert len(skipped) == 1 and skipped[0]["outcome"].startswith("not joined: series declined on ")
            assert "renew with `sessionbot consent renew weekly-sam`" in skipped[0]["outcome"]
            assert count(logs, "session_skipped_series_declined") == 1

            cli = CliRunner()
            shown = cli.invoke(main, ["status", "--schedule", str(schedule)])
            assert shown.exit_code == 0, shown.output
            assert "declined series: 1" in shown.output and "weekly-sam  declined since" in shown.output
            renewed = cli.invoke(main, ["consent", "renew", "weekly-sam", "--schedule", str(schedule)])
            assert renewed.exit_code == 0, renewed.output
            await wait_for(lambda: states(tmp_path).get(second) == "listening", timeout=120)
            assert bots_in(room, "sam") == 1
            shown = cli.invoke(main, ["status", "--schedule", str(schedule)])
            assert "declined series: 0" in shown.output and "weekly-sam  renewed" in shown.output, shown.output
            await sam.leave()
            await lee.leave()
            await wait_for(lambda: states(tmp_path).get(second) == "done" and states(tmp_path).get("lee-1") == "done",
                           timeout=60)
        finally:
            service.request_stop("test over")
            assert await asyncio.wait_for(running, 60) == 0
            for pump in pumps:
                pump.cancel()
    records = audits(tmp_path, "rivera")
    objected = [a for a in records if a["objection"] is not None]
    assert len(objected) == 1 and objected[0]["consent_renewed"] is None
    joined_again = [a for a in records if a["outcome"].startswith("completed")]
    assert len(joined_again) == 1 and joined_again[0]["consent_renewed"] == "command"
    assert [a["consent_renewed"] for a in audits(tmp_path, "lee")] == [None]  # the other series: untouched
    state = declined_series_file(tmp_path / "state" / "service.json")
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    [record] = json.loads(state.read_text())["series"].values()
    assert record["session_id"] == objected[0]["session_id"] and record["renewed_by"] == "command"
    assert record["renewal_audited"] is True
    written = [p for p in (tmp_path / "notes").rglob("*") if p.is_file()]
    for path in [state, tmp_path / "state" / "service.json", *written]:
        assert "bartholomew" not in path.read_text().lower(), path  # nothing said, anywhere
    assert "bartholomew" not in json.dumps(logs, default=str).lower()
    assert count(logs, "series_declined") == 1 and count(logs, "series_consent_renewed") == 1


async def test_a_declined_schedule_entry_is_renewed_only_by_a_key_later_than_the_objection(tmp_path: Path,
                                                                                          captured) -> None:
    base = load_settings(write_config(tmp_path))
    logs = captured
    async with RoomServer({"kim": "tok-kim"}, port=0) as room:
        link, length, pumps = bot_link(room, "kim"), timedelta(minutes=10), []
        t0 = now_s()
        schedule = write_schedule(tmp_path, [session_toml("kim-weekly", link, "lee", t0, t0 + length)])
        kim = await participant(room, "kim", "Kim", pumps)
        service = ScheduleService(base, schedule, os.urandom(32))
        running = asyncio.ensure_future(service.run())
        try:
            await wait_for(lambda: states(tmp_path).get("kim-weekly") == "listening", timeout=120)
            await kim.send_text(OBJECTION)
            await wait_for(lambda: states(tmp_path).get("kim-weekly") == "done", timeout=60)
            declined_at = datetime.fromisoformat(audits(tmp_path, "lee")[0]["objection"]["at_utc"])
            await wait_for(lambda: bots_in(room, "kim") == 0, timeout=30)

            t1 = now_s() + timedelta(seconds=1)

            def next_week(key: str = "") -> list[str]:  # the entry moved to its next date (now, for the test)
                entry = session_toml("kim-weekly", link, "lee", t1, t1 + length)
                return [entry.replace("cancelled", f"consent_renewed_utc = {key}\ncancelled") if key else entry]

            write_schedule(tmp_path, next_week())
            await wait_for(lambda: states(tmp_path).get("kim-weekly") == "declined", timeout=30)
            earlier = (declined_at - timedelta(minutes=5)).isoformat()
            write_schedule(tmp_path, next_week(f'"{earlier}"'))
            reloads = count(logs, "schedule_reloaded")
            await wait_for(lambda: count(logs, "schedule_reloaded") >= reloads + 2, timeout=30)
            assert states(tmp_path)["kim-weekly"] == "declined" and bots_in(room, "kim") == 0
            later = (declined_at + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            write_schedule(tmp_path, next_week(f'"{later}"'))
            await wait_for(lambda: states(tmp_path).get("kim-weekly") == "listening", timeout=120)
            assert bots_in(room, "kim") == 1
            await kim.leave()
            await wait_for(lambda: states(tmp_path).get("kim-weekly") == "done", timeout=60)
        finally:
            service.request_stop("test over")
            assert await asyncio.wait_for(running, 60) == 0
            for pump in pumps:
                pump.cancel()
    records = audits(tmp_path, "lee")
    assert len(records) == 3  # the objection, the occurrence not joined, the one joined after the renewal
    assert sum("series declined" in a["outcome"] for a in records) == 1  # the earlier key did not renew
    [renewed] = [a for a in records if a["outcome"].startswith("completed")]
    assert renewed["consent_renewed"] == "schedule key"
