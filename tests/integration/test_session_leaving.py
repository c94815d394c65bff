"""Leaving rules of scheduled sessions over real WebRTC on 127.0.0.1: scheduled end plus grace, and the
hard maximum, each end the session with someone still present; the note keeps what was said."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.call.room import RoomConnector
from bot.session import SessionRunner, State
from tests.integration.conftest import drain

pytestmark = pytest.mark.slow


async def run_with_a_client_present(room, runner: SessionRunner) -> tuple[object, float]:
    client = RoomConnector(room.link("r"), "Sam", role="client")
    await client.join()
    pump = asyncio.ensure_future(drain(client))
    try:
        result = await asyncio.wait_for(runner.run(), 60)
    finally:
        await client.leave()
        pump.cancel()
    return result, result.duration_s


async def test_scheduled_end_plus_grace_ends_a_session_someone_is_still_in(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"}, leave={"scheduled_end_grace_s": 1.0})
    end = datetime.now(UTC) + timedelta(seconds=2)
    runner = SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine, scheduled_end=end)
    result, duration = await run_with_a_client_present(room, runner)
    assert result.state == State.DONE and result.reason == "scheduled end passed"
    assert datetime.now(UTC) >= end + timedelta(seconds=1)
    assert [p.display_name for p in result.participants] == ["Sam"]  # it left with her still there
    assert result.note_json is not None and result.note_json.is_file()


async def test_hard_maximum_duration_ends_a_session(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"}, leave={"max_duration_s": 2.0})
    far_end = datetime.now(UTC) + timedelta(hours=1)
    runner = SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine, scheduled_end=far_end)
    result, duration = await run_with_a_client_present(room, runner)
    assert result.state == State.DONE and result.reason == "hard maximum duration reached"
    assert 2.0 <= duration < 30.0
