"""The Janus connector's reader and supervisor end the call, logged without content, on an error
nobody foresaw. The socket is a real websocket on 127.0.0.1; no Janus runs here (the e2e tests
have one), and the unforeseen error is injected, named as a fake below."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import structlog
import websockets
from websockets.asyncio.server import Server, ServerConnection, serve

from bot.call.base import CallEnded, CallEvent, ConnectionLost
from bot.call.janus import JanusConnector
from bot.call.janus_protocol import JanusUrl
from bot.config import JanusSettings

SECRET = "what someone said"


@pytest.fixture
async def socket_server() -> AsyncIterator[Server]:
    async def one_event_then_close(connection: ServerConnection) -> None:
        await connection.send(json.dumps({"janus": "webrtcup", "session_id": 1, "sender": 2}))
        await asyncio.sleep(0.1)
        await connection.close()

    async with serve(one_event_then_close, "127.0.0.1", 0) as server:
        yield server


async def _watched(server: Server) -> JanusConnector:
    """A connector as after a join: its reader on a live socket, its supervisor watching it."""
    connector = JanusConnector(JanusUrl.parse("janus://127.0.0.1:9/1234"), "bot", JanusSettings(unreachable_limit_s=1))
    port = server.sockets[0].getsockname()[1]
    connector._ws = await websockets.connect(f"ws://127.0.0.1:{port}")
    connector._reader = asyncio.create_task(connector._read(connector._ws))
    connector._supervisor = asyncio.create_task(connector._supervise())
    return connector


async def _events(connector: JanusConnector) -> list[CallEvent]:
    return await asyncio.wait_for(_collect(connector), 10)


async def _collect(connector: JanusConnector) -> list[CallEvent]:
    return [event async for event in connector.events()]


async def test_an_unforeseen_error_in_the_reader_ends_the_call_with_its_type(
    socket_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = await _watched(socket_server)

    def broken_handler(raw: str | bytes) -> None:  # a fake bug: none is known to exist
        raise RuntimeError(SECRET)

    monkeypatch.setattr(connector, "on_raw_message", broken_handler)
    with structlog.testing.capture_logs() as logs:
        events = await _events(connector)
    assert events == [CallEnded("RuntimeError")]  # ended, not a rejoin loop on a bug
    assert [e["error"] for e in logs if e["event"] == "janus_reader_failed"] == ["RuntimeError"]
    assert not any(SECRET in str(entry) for entry in logs)
    await connector.leave()


async def test_an_unforeseen_error_in_the_supervisor_ends_the_call_with_its_type(
    socket_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = await _watched(socket_server)

    async def broken_drop() -> None:  # a fake bug, hit when the socket closes and the link is dropped
        raise LookupError(SECRET)

    monkeypatch.setattr(connector, "_drop_link", broken_drop)
    with structlog.testing.capture_logs() as logs:
        events = await _events(connector)
    assert isinstance(events[0], ConnectionLost) and events[-1] == CallEnded("LookupError")
    assert [e["error"] for e in logs if e["event"] == "janus_supervisor_failed"] == ["LookupError"]
    assert not any(SECRET in str(entry) for entry in logs)
    monkeypatch.undo()
    await connector.leave()


async def test_without_a_chat_janus_says_it_sent_nothing() -> None:
    connector = JanusConnector(JanusUrl.parse("janus://127.0.0.1:9/1234"), "bot", JanusSettings())
    assert await connector.send_text("hello") is False
    assert await connector.ask_consent("May I?", to={"p1"}) is False
