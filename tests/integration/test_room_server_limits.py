"""Per-connection limits of the embedded room, and fuzzing through a real websocket on
127.0.0.1: a misbehaving connection is answered, throttled or closed, and other
connections and other rooms carry on."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as connect_sync

from bot.call.room_server import RoomLimits, RoomServer
from tests.unit.test_room_protocol_fuzz import raw_messages

ERROR_CODES = {"binary", "not-json", "no-type", "invalid", "unknown-peer", "already-joined", "rate-limited"}


async def _join(port: int, room: str, token: str, name: str) -> tuple[websockets.ClientConnection, dict]:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws")
    await ws.send(json.dumps({"type": "join", "room": room, "token": token, "name": name}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), 5))


async def _relay_works(port: int, room: str, token: str) -> None:
    first, welcome = await _join(port, room, token, "Ana")
    second, _ = await _join(port, room, token, "Ben")
    assert json.loads(await asyncio.wait_for(first.recv(), 5))["type"] == "peer-joined"
    await second.send(json.dumps({"type": "offer", "to": welcome["id"], "sdp": "v=0"}))
    assert json.loads(await asyncio.wait_for(first.recv(), 5))["sdp"] == "v=0"
    await first.close()
    await second.close()


@pytest.fixture
async def strict() -> AsyncIterator[RoomServer]:
    # A rate this low adds no token during the test: the counts below are exact.
    limits = RoomLimits(max_message_bytes=4096, messages_per_s=0.01, burst=5)
    async with RoomServer({"alpha": "a", "beta": "b"}, port=0, limits=limits) as running:
        yield running


async def test_messages_over_the_rate_are_dropped_with_one_error(strict: RoomServer) -> None:
    ws, welcome = await _join(strict.port, "alpha", "a", "Mallory")  # the join takes 1 of the 5
    assert welcome["type"] == "welcome"
    for _ in range(20):
        await ws.send(json.dumps({"type": "candidate", "to": "p999"}))
    replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
    assert [r["code"] for r in replies] == ["unknown-peer"] * 4 + ["rate-limited"]
    with pytest.raises(TimeoutError):  # the other 15 were dropped without an answer each
        await asyncio.wait_for(ws.recv(), 0.3)
    await _relay_works(strict.port, "beta", "b")  # another room is unaffected


async def test_an_oversized_message_closes_only_that_connection(strict: RoomServer) -> None:
    bystander, _ = await _join(strict.port, "alpha", "a", "Ana")
    ws, _ = await _join(strict.port, "alpha", "a", "Mallory")
    assert json.loads(await bystander.recv())["type"] == "peer-joined"
    await ws.send(json.dumps({"type": "offer", "to": "p1", "sdp": "x" * 5000}))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1009  # message too big
    assert json.loads(await asyncio.wait_for(bystander.recv(), 5))["type"] == "peer-left"
    await _relay_works(strict.port, "beta", "b")


def test_room_limits_come_from_the_settings() -> None:
    from bot.config import ConfigError, settings_from_mapping

    room = settings_from_mapping({"room": {"max_message_bytes": 8192, "messages_per_s": 5, "burst": 10}}).room
    assert (room.max_message_bytes, room.messages_per_s, room.burst) == (8192, 5.0, 10)
    with pytest.raises(ConfigError, match=r"room\.messages_per_s: bad value 0"):
        settings_from_mapping({"room": {"messages_per_s": 0}})


# -- fuzzing through a real websocket ---------------------------------------------------------

WEBSOCKET_FUZZ_EXAMPLES = 300


class _ServerThread:
    """A RoomServer on its own event loop thread, so hypothesis can drive a synchronous client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = RoomServer({"alpha": "a", "beta": "b"}, port=0, limits=RoomLimits(max_message_bytes=4096))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> _ServerThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def run(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def threaded_server() -> Iterator[_ServerThread]:
    with _ServerThread() as running:
        yield running


class _Fuzzer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.ws: ClientConnection | None = None
        self.closed = 0

    def joined(self) -> ClientConnection:
        if self.ws is None:
            self.ws = connect_sync(f"ws://127.0.0.1:{self.port}/ws")
            self.ws.send(json.dumps({"type": "join", "room": "alpha", "token": "a", "name": "Fuzz"}))
            assert json.loads(self.ws.recv(5))["type"] == "welcome"
        return self.ws


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_fuzzed_messages_through_a_websocket_never_break_the_server(threaded_server: _ServerThread) -> None:
    fuzzer = _Fuzzer(threaded_server.server.port)
    sent = 0

    @settings(max_examples=WEBSOCKET_FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(raw_messages | st.text(min_size=4097, max_size=4200))
    def one(raw: str | bytes) -> None:
        nonlocal sent
        ws = fuzzer.joined()
        ws.send(raw)
        sent += 1
        try:
            reply = json.loads(ws.recv(5))
        except websockets.ConnectionClosed:
            # Only a valid "leave" or an oversized message ends the connection.
            assert ws.close_code in (1000, 1009)
            fuzzer.ws = None
            fuzzer.closed += 1
            return
        assert reply["type"] == "error" and reply["code"] in ERROR_CODES

    one()
    assert sent >= WEBSOCKET_FUZZ_EXAMPLES * 0.9
    threaded_server.run(_relay_works(threaded_server.server.port, "beta", "b"))
    threaded_server.run(_relay_works(threaded_server.server.port, "alpha", "a"))
