"""Load test of the embedded room's signalling relay on loopback.

The server runs in its own process (so its memory is its own); this process
joins `rooms` rooms with two peers each, and in every room one peer sends
`messages` ICE candidates to the other as fast as the relay takes them. Every
message must arrive, in order, at the right peer and nowhere else. Reported:
relayed messages a second (all rooms together), the server's resident memory
before, at peak and after, and the end-to-end time. Count and time are bounded.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import psutil
import websockets

from bot.call.room_server import RoomLimits, RoomServer
from bot.log import configure_logging

# The relay itself is measured, not the per-connection limit: the defaults (50/s, bursts of 200) would cap
# each sender at 50 messages a second.
BENCH_LIMITS = RoomLimits(messages_per_s=1_000_000.0, burst=1_000_000)


@dataclass(frozen=True)
class RoomLoad:
    rooms: int = 20
    messages: int = 500
    payload_bytes: int = 200
    timeout_s: float = 120.0


def _serve(pipe: Connection, rooms: dict[str, str]) -> None:
    configure_logging("warning")  # one line per join would cost the relay more than it measures

    async def main() -> None:
        async with RoomServer(rooms, "127.0.0.1", 0, BENCH_LIMITS) as server:
            pipe.send(server.port)
            await asyncio.to_thread(pipe.recv)  # until told to stop

    asyncio.run(main())


def _room_names(count: int) -> dict[str, str]:
    return {f"load{i}": f"token-{i}" for i in range(count)}


async def _join(port: int, room: str, token: str, name: str) -> tuple[websockets.ClientConnection, str]:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_queue=None)
    await ws.send(json.dumps({"type": "join", "room": room, "token": token, "name": name}))
    welcome = json.loads(await ws.recv())
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"room {room}: join refused ({welcome.get('code')})")
    return ws, welcome["id"]


async def _one_room(port: int, room: str, token: str, load: RoomLoad) -> int:
    receiver, receiver_id = await _join(port, room, token, "receiver")
    sender, sender_id = await _join(port, room, token, "sender")
    await receiver.recv()  # peer-joined
    filler = "x" * load.payload_bytes

    async def send() -> None:
        for seq in range(load.messages):
            candidate = {"candidate": f"{room} {seq} {filler}", "sdpMid": "0", "sdpMLineIndex": 0}
            await sender.send(json.dumps({"type": "candidate", "to": receiver_id, "candidate": candidate}))

    async def receive() -> int:
        for seq in range(load.messages):
            message = json.loads(await receiver.recv())
            words = message["candidate"]["candidate"].split(" ", 2)
            if message["from"] != sender_id or words[0] != room or int(words[1]) != seq:
                raise AssertionError(f"room {room}: message {seq} arrived wrong, out of order or from elsewhere")
        return load.messages

    try:
        _, received = await asyncio.gather(send(), receive())
    finally:
        await sender.close()
        await receiver.close()
    return received


async def _drive(port: int, rooms: dict[str, str], load: RoomLoad, server: psutil.Process) -> dict[str, Any]:
    peak = server.memory_info().rss
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server.memory_info().rss)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        counts = await asyncio.wait_for(
            asyncio.gather(*(_one_room(port, name, token, load) for name, token in rooms.items())), load.timeout_s
        )
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        await sampler
    return {"relayed": sum(counts), "elapsed_s": elapsed, "peak_rss": peak}


def run_room_bench(load: RoomLoad) -> dict[str, Any]:
    rooms = _room_names(load.rooms)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(theirs, rooms), daemon=True)
    child.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the room server did not start within 30 s")
        port = ours.recv()
        server = psutil.Process(child.pid)
        rss_before = server.memory_info().rss
        figures = asyncio.run(_drive(port, rooms, load, server))
        time.sleep(0.2)
        rss_after = server.memory_info().rss
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.kill()
    mib = 1024 * 1024
    return {
        "rooms": load.rooms,
        "connections": 2 * load.rooms,
        "messages_per_room": load.messages,
        "payload_bytes": load.payload_bytes,
        "relayed": figures["relayed"],
        "elapsed_s": round(figures["elapsed_s"], 3),
        "messages_per_s": round(figures["relayed"] / figures["elapsed_s"], 1),
        "server_rss_mib": {"before": round(rss_before / mib, 1), "peak": round(figures["peak_rss"] / mib, 1),
                           "after": round(rss_after / mib, 1)},
        "limits": "per-connection rate limit lifted for the measurement (relay throughput)",
    }
