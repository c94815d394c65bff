"""SessionRunner over real WebRTC on 127.0.0.1 with real speech models (tiny.en for speed)."""

from __future__ import annotations

import asyncio

import pytest

from bot.audio.tts import render_speech
from bot.call.room import RoomConnector
from bot.session import SessionRunner, State
from tests.integration.conftest import JOIN_WAIT_S, drain, wait_for

pytestmark = pytest.mark.slow


async def test_operator_stop_leaves_and_writes_the_note_for_what_was_said(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"})
    client = RoomConnector(room.link("r"), "Sam", role="client")
    await client.join()
    pump = asyncio.ensure_future(drain(client))
    runner = SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine)
    session = asyncio.ensure_future(runner.run())
    await wait_for(lambda: runner.state == State.LISTENING)
    samples, rate = render_speech("I walked to the park every morning this week.", "en-us", 150)
    await client.speak(samples, rate)
    await wait_for(lambda: len(runner.buffer) >= 1)
    runner.request_stop("stopped by operator (test)")
    result = await asyncio.wait_for(session, 30)
    await client.leave()
    pump.cancel()
    assert result.state == State.DONE and result.reason == "stopped by operator (test)"
    assert "park" in result.segments[0].text.lower() and result.segments[0].display_name == "Sam"
    assert result.note_json is not None and result.note_json.is_file()


async def test_late_joiner_gets_the_short_announcement_once(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"})
    runner = SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine)
    session = asyncio.ensure_future(runner.run())
    first = RoomConnector(room.link("r", role="clinician"), "Ana", role="clinician")
    await wait_for(lambda: runner.state == State.ANNOUNCING, timeout=JOIN_WAIT_S)
    await first.join()
    pumps = [asyncio.ensure_future(drain(first))]
    await wait_for(lambda: runner.state == State.LISTENING, timeout=60)
    late = RoomConnector(room.link("r"), "Sam", role="client")
    await late.join()
    pumps.append(asyncio.ensure_future(drain(late)))
    await wait_for(lambda: len(runner._announced) == 2)
    await late.leave()
    await first.leave()
    result = await asyncio.wait_for(session, 60)
    by_name = {p.display_name: p.id for p in result.participants}
    assert result.announced == {by_name["Ana"]: "announcement", by_name["Sam"]: "late_joiner"}
    assert result.reason == "everyone else left"
    for pump in pumps:
        pump.cancel()


async def test_nobody_joined_ends_the_session_with_an_honest_empty_note(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"}, leave={"nobody_joined_timeout_s": 1.0})
    result = await asyncio.wait_for(SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine).run(), 30)
    assert result.reason == "nobody joined" and result.segments == []
    assert "Not discussed in this session." in result.note_markdown.read_text()
