"""The bot's side of the embedded room: refusals and bad signalling."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import structlog
from websockets.asyncio.server import ServerConnection, serve

from bot.call.base import CallEnded, CallJoinError, ParticipantJoined
from bot.call.room import RoomConnector
from bot.call.room_protocol import RoomUrl
from bot.call.room_server import RoomServer
from bot.transcribe.journal import generate_key


async def test_wrong_token_raises_a_clear_join_error() -> None:
    async with RoomServer({"r1": "right"}, port=0) as server:
        connector = RoomConnector(RoomUrl(base=server.base_url, room="r1", token="wrong"), "Bot")
        with pytest.raises(CallJoinError, match="refused.*wrong join token"):
            await connector.join()
        # The room is unharmed: the right token still gets in.
        good = RoomConnector(server.link("r1", role="clinician"), "Bot")
        assert await good.join() == []
        await good.leave()


async def test_a_link_without_token_is_refused_before_connecting() -> None:
    with pytest.raises(CallJoinError, match="no token"):
        RoomConnector(RoomUrl.parse("http://127.0.0.1:9/room/r1"), "Bot")


def test_a_room_link_is_parsed_or_explained() -> None:
    url = RoomUrl.parse("http://127.0.0.1:8765/room/therapy-1?token=abc")
    assert (url.websocket, url.room, url.token) == ("ws://127.0.0.1:8765/ws", "therapy-1", "abc")
    with pytest.raises(ValueError, match="not a room link"):
        RoomUrl.parse("ftp://example/room")


async def test_malformed_signalling_is_logged_and_skipped() -> None:
    """A deliberately broken signalling server (a fake: our own server never sends these)
    feeds the connector garbage between valid messages; the connector must survive it."""

    async def broken_server(connection: ServerConnection) -> None:
        await connection.recv()  # the join
        await connection.send(json.dumps({"type": "welcome", "id": "p9", "room": "r", "peers": []}))
        for garbage in ("not json at all", "[1,2]", '{"type":"offer"}', '{"type":"answer","from":"nobody","sdp":"x"}',
                        '{"type":"warp-drive"}', '{"type":"peer-joined","peer":{"id":"p2","name":"Ana","role":"client"}}'):
            await connection.send(garbage)
        await asyncio.sleep(0.2)
        await connection.close()

    async with serve(broken_server, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        connector = RoomConnector(RoomUrl(base=f"http://127.0.0.1:{port}", room="r", token="t"), "Bot")
        with structlog.testing.capture_logs() as logs:
            await connector.join()
            events = [event async for event in connector.events()]
        await connector.leave()
    assert isinstance(events[-1], CallEnded)
    assert not any(isinstance(e, ParticipantJoined) for e in events)
    invalid = [entry for entry in logs if entry["event"] == "signalling_message_invalid"]
    assert len(invalid) == 5


@pytest.mark.slow
def test_join_command_with_a_wrong_token_exits_with_the_reason(tmp_path) -> None:
    async def scenario() -> subprocess.CompletedProcess[str]:
        async with RoomServer({"r1": "right"}, port=0) as server:
            link = RoomUrl(base=server.base_url, room="r1", token="wrong").link
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "join", link, "--config", str(write_config(tmp_path)),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "SESSIONBOT_JOURNAL_KEY": generate_key()},
            )
            out, err = await asyncio.wait_for(process.communicate(), 120)
            return subprocess.CompletedProcess([], process.returncode or 0, out.decode(), err.decode())

    done = asyncio.run(scenario())
    assert done.returncode == 1
    assert "refused" in done.stderr and "wrong join token" in done.stderr
    assert "Traceback" not in done.stderr


def write_config(tmp_path) -> object:
    path = tmp_path / "bot.toml"
    path.write_text(f'[transcription]\nmodel = "tiny.en"\n[paths]\noutput_dir = "{tmp_path / "notes"}"\n'
                    f'[journal]\ndirectory = "{tmp_path / "journal"}"\n')
    return path
