"""The bot's signalling socket dropped mid-call (issue 15 item 2), over a real RoomServer and real
RoomConnector peers (aiortc) on 127.0.0.1: the call goes on, the media links carry on, the bot takes
its place in the room back, and what the room relayed meanwhile (a newcomer's arrival) reaches it."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import structlog
import websockets

from bot.call.base import AudioTrackReceived, CallEnded, ParticipantJoined, ParticipantLeft
from bot.call.room import RoomConnector
from bot.call.room_server import RoomLimits, RoomServer
from tests.integration.conftest import wait_for
from tests.integration.test_room_channel import Recorder, _channel_open


class FrameCounter:
    """Reads the bot's inbound tracks, counting frames: media still flowing is media being received."""

    def __init__(self) -> None:
        self.frames = 0
        self._readers: list[asyncio.Task[None]] = []

    def follow(self, recorder: Recorder) -> None:
        async def watch() -> None:
            seen = 0
            while True:
                tracks = recorder.of(AudioTrackReceived)
                for event in tracks[seen:]:
                    self._readers.append(asyncio.ensure_future(self._count(event.track)))
                seen = len(tracks)
                await asyncio.sleep(0.05)

        self._readers.append(asyncio.ensure_future(watch()))

    async def _count(self, track) -> None:  # noqa: ANN001 - an aiortc track
        try:
            while True:
                await track.recv()
                self.frames += 1
        except Exception:  # noqa: BLE001 - the track ended
            return

    def stop(self) -> None:
        for reader in self._readers:
            reader.cancel()


async def test_a_dropped_signalling_socket_is_resumed_and_the_call_goes_on() -> None:
    async with RoomServer({"r": "tok"}, port=0) as room:
        bot = RoomConnector(room.link("r", role="clinician"), "Assistant", role="bot")
        await bot.join()
        bot_events = Recorder(bot)
        counter = FrameCounter()
        counter.follow(bot_events)
        client = RoomConnector(room.link("r"), "Sam", role="client")
        await client.join()
        client_events = Recorder(client)
        await wait_for(lambda: _channel_open(client, bot.id) and _channel_open(bot, client.id))
        tone = (np.sin(np.arange(48_000 * 8) * 2 * np.pi * 220 / 48_000) * 8000).astype(np.int16)
        speaking = asyncio.ensure_future(client.speak(tone, 48_000))
        await wait_for(lambda: counter.frames > 50)

        with structlog.testing.capture_logs() as logs:
            assert room.drop_connection("r", str(bot.id))
            before = counter.frames
            await wait_for(lambda: any(e["event"] == "room_signalling_restored" for e in logs), timeout=10)
            # Media went on through the drop: the links never depended on the signalling socket.
            await wait_for(lambda: counter.frames > before + 50)
            # Someone joining after the drop is linked through the resumed socket.
            late = RoomConnector(room.link("r"), "Ana", role="client")
            await late.join()
            late_events = Recorder(late)
            await wait_for(lambda: any(p.participant.display_name == "Ana" for p in bot_events.of(ParticipantJoined)))
            await wait_for(lambda: _channel_open(bot, late.id))

        assert not bot_events.of(CallEnded)
        assert not client_events.of(ParticipantLeft)  # the others never saw the bot leave
        assert [p.participant.id for p in bot_events.of(ParticipantJoined)].count(client.id) == 1  # no duplicate link
        assert bot.signalling_drops == 1
        assert not any("Sam" in str(e) or "Ana" in str(e) for e in logs)  # names are content: not logged
        speaking.cancel()
        counter.stop()
        for connector in (late, client, bot):
            await connector.leave()
        for recorder in (late_events, client_events, bot_events):
            await recorder.task


async def test_what_is_relayed_while_detached_waits_and_a_late_resume_is_refused() -> None:
    async with RoomServer({"r": "tok"}, port=0, limits=RoomLimits(resume_grace_s=1.0)) as room:
        url = f"ws://127.0.0.1:{room.port}/ws"
        ana = await websockets.connect(url)
        await ana.send(json.dumps({"type": "join", "room": "r", "token": "tok", "name": "Ana", "role": "client"}))
        welcome = json.loads(await ana.recv())
        assert welcome["resume"]
        ana.transport.abort()  # a network drop: no close frame
        await wait_for(lambda: room.rooms["r"].peers[welcome["id"]].connection is None)

        ben = await websockets.connect(url)
        await ben.send(json.dumps({"type": "join", "room": "r", "token": "tok", "name": "Ben", "role": "client"}))
        ben_welcome = json.loads(await ben.recv())
        assert [p["name"] for p in ben_welcome["peers"]] == ["Ana"]  # her place is kept
        await ben.send(json.dumps({"type": "offer", "to": welcome["id"], "sdp": "v=0"}))

        again = await websockets.connect(url)
        await again.send(json.dumps({"type": "join", "room": "r", "token": "tok", "name": "Ana", "role": "client",
                                     "resume": welcome["resume"]}))
        resumed = json.loads(await again.recv())
        assert (resumed["type"], resumed["id"], resumed.get("resumed")) == ("welcome", welcome["id"], True)
        waiting = [json.loads(await again.recv()) for _ in range(2)]
        assert [m["type"] for m in waiting] == ["peer-joined", "offer"] and waiting[1]["from"] == ben_welcome["id"]

        again.transport.abort()
        late = await asyncio.wait_for(ben.recv(), 5)  # past the grace, the others are told she left
        assert json.loads(late) == {"type": "peer-left", "id": welcome["id"]}
        expired = await websockets.connect(url)
        await expired.send(json.dumps({"type": "join", "room": "r", "token": "tok", "name": "Ana", "role": "client",
                                       "resume": welcome["resume"]}))
        assert json.loads(await expired.recv())["code"] == "resume-expired"

        # A closed socket (a close frame: the peer meant it) frees the place at once, as before.
        await ben.close()
        await wait_for(lambda: ben_welcome["id"] not in room.rooms["r"].peers)


async def test_the_resume_secret_needs_the_rooms_token_too() -> None:
    async with RoomServer({"r": "tok"}, port=0) as room:
        url = f"ws://127.0.0.1:{room.port}/ws"
        ana = await websockets.connect(url)
        await ana.send(json.dumps({"type": "join", "room": "r", "token": "tok", "name": "Ana", "role": "client"}))
        welcome = json.loads(await ana.recv())
        ana.transport.abort()
        thief = await websockets.connect(url)
        await thief.send(json.dumps({"type": "join", "room": "r", "token": "wrong", "name": "Ana", "role": "client",
                                     "resume": welcome["resume"]}))
        assert json.loads(await thief.recv())["code"] == "bad-token"
