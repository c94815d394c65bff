"""The embedded room's signalling server, over real websockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from collections.abc import AsyncIterator

import pytest
import websockets

from bot.call.room_protocol import RoomUrl
from bot.call.room_server import RoomServer


@pytest.fixture
async def server() -> AsyncIterator[RoomServer]:
    async with RoomServer({"alpha": "token-a", "beta": "token-b"}, port=0, clinician_tokens={"alpha": "clin-a"}) as running:
        yield running


async def connect(server: RoomServer):
    return await websockets.connect(f"ws://127.0.0.1:{server.port}/ws")


async def join(server: RoomServer, room: str, token: str, name: str, role: str = "client"):
    ws = await connect(server)
    await ws.send(json.dumps({"type": "join", "room": room, "token": token, "name": name, "role": role}))
    return ws, json.loads(await ws.recv())


async def test_wrong_token_is_refused_with_a_clear_message(server: RoomServer) -> None:
    ws, reply = await join(server, "alpha", "wrong", "Mallory")
    assert reply["type"] == "error" and reply["code"] == "bad-token"
    assert "wrong join token" in reply["message"]
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4003
    assert server.rooms["alpha"].peers == {}


async def test_unknown_room_gets_the_same_answer_as_a_wrong_token(server: RoomServer) -> None:
    _, reply = await join(server, "gamma", "token-a", "Mallory")
    assert reply["code"] == "bad-token"


async def test_peers_are_told_about_each_other_and_descriptions_are_relayed(server: RoomServer) -> None:
    first, welcome = await join(server, "alpha", "clin-a", "Ana", "clinician")
    assert welcome["type"] == "welcome" and welcome["peers"] == []
    second, welcome2 = await join(server, "alpha", "token-a", "Ben")
    assert welcome2["peers"] == [{"id": welcome["id"], "name": "Ana", "role": "clinician"}]
    joined = json.loads(await first.recv())
    assert joined == {"type": "peer-joined", "peer": {"id": welcome2["id"], "name": "Ben", "role": "client"}}
    await second.send(json.dumps({"type": "offer", "to": welcome["id"], "sdp": "v=0"}))
    relayed = json.loads(await first.recv())
    assert relayed == {"type": "offer", "sdp": "v=0", "from": welcome2["id"]}
    await second.close()
    assert json.loads(await first.recv()) == {"type": "peer-left", "id": welcome2["id"]}


@pytest.mark.parametrize("role", ["clinician", "bot"])
async def test_a_privileged_role_with_the_participant_token_is_refused_naming_the_fix(
    server: RoomServer, role: str
) -> None:
    bystander, _ = await join(server, "alpha", "token-a", "Ben")
    ws, reply = await join(server, "alpha", "token-a", "Mallory", role)
    assert reply["type"] == "error" and reply["code"] == "role-needs-clinician-token"
    assert f"{role!r} needs the clinician's private link" in reply["message"]
    assert "join as client or guest" in reply["message"]
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4003
    assert [p.name for p in server.rooms["alpha"].peers.values()] == ["Ben"]
    with pytest.raises(TimeoutError):  # nobody was told about a peer that never got in
        await asyncio.wait_for(bystander.recv(), 0.3)


async def test_the_clinician_token_admits_privileged_roles_and_everyone_sees_the_verified_role(
    server: RoomServer,
) -> None:
    client, _ = await join(server, "alpha", "token-a", "Sam", "client")
    bot, welcome = await join(server, "alpha", "clin-a", "Assistant", "bot")
    assert welcome["type"] == "welcome" and welcome["role"] == "bot"
    assert json.loads(await client.recv())["peer"] == {"id": welcome["id"], "name": "Assistant", "role": "bot"}
    clinician, welcome3 = await join(server, "alpha", "clin-a", "Dr. Lee", "clinician")
    assert {p["name"]: p["role"] for p in welcome3["peers"]} == {"Sam": "client", "Assistant": "bot"}
    for ws in (client, bot):
        assert json.loads(await ws.recv())["peer"]["role"] == "clinician"
    # A name proves nothing: a client may call itself "Assistant" and is still relayed as a client.
    mimic, welcome4 = await join(server, "alpha", "token-a", "Assistant", "client")
    assert welcome4["role"] == "client"
    assert json.loads(await bot.recv())["peer"] == {"id": welcome4["id"], "name": "Assistant", "role": "client"}


async def test_the_clinician_token_only_works_in_its_own_room(server: RoomServer) -> None:
    _, reply = await join(server, "beta", "clin-a", "Ana", "clinician")
    assert reply["code"] == "bad-token"


def test_every_room_gets_a_distinct_clinician_token_and_link() -> None:
    server = RoomServer({"r": "tok", "s": "tok"}, port=0)
    participant, clinician = server.link("r"), server.link("r", role="clinician")
    assert participant.token == "tok" and clinician.token not in (None, "tok")
    assert server.link("s", role="clinician").token != clinician.token
    assert clinician.link.endswith("&as=clinician") and "as=" not in participant.link
    assert RoomUrl.parse(clinician.link) == clinician
    with pytest.raises(ValueError, match=r"room r: the clinician token equals the participant token.*Fix"):
        RoomServer({"r": "same"}, port=0, clinician_tokens={"r": "same"})


@pytest.mark.parametrize(
    "bad, code",
    [
        ("this is not json {", "not-json"),
        ("[1, 2, 3]", "no-type"),
        ('{"type": "teleport"}', "invalid"),
        ('{"type": "offer", "to": "p999", "sdp": "v=0"}', "unknown-peer"),
        ('{"type": "offer", "sdp": 5}', "invalid"),
    ],
)
async def test_malformed_messages_are_answered_and_skipped(server: RoomServer, bad: str, code: str) -> None:
    ws, welcome = await join(server, "alpha", "token-a", "Ana")
    other_room, _ = await join(server, "beta", "token-b", "Cleo")
    await ws.send(bad)
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["type"] == "error" and reply["code"] == code
    # The sender is still in its room and can go on; the other room never noticed.
    late, welcome2 = await join(server, "alpha", "token-a", "Ben")
    assert [p["id"] for p in welcome2["peers"]] == [welcome["id"]]
    assert json.loads(await ws.recv())["type"] == "peer-joined"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(other_room.recv(), 0.3)


async def test_malformed_message_before_join_does_not_admit(server: RoomServer) -> None:
    ws = await connect(server)
    await ws.send("{{{")
    assert json.loads(await ws.recv())["code"] == "not-json"
    await ws.send(json.dumps({"type": "offer", "to": "p1", "sdp": "x"}))
    assert json.loads(await ws.recv())["code"] == "join-first"


async def test_page_is_served_and_other_paths_are_not(server: RoomServer) -> None:
    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    status, body = await asyncio.to_thread(get, "/room/alpha?token=token-a")
    assert status == 200 and "getUserMedia" in body and "RTCPeerConnection" in body
    status, _ = await asyncio.to_thread(get, "/etc/passwd")
    assert status == 404


def test_the_clinician_token_setting_must_differ_from_the_join_token() -> None:
    from bot.config import ConfigError, settings_from_mapping

    room = settings_from_mapping({"room": {"token": "a", "clinician_token": "b"}}).room
    assert (room.token, room.clinician_token) == ("a", "b")
    with pytest.raises(ConfigError, match=r"room\.clinician_token: .*must differ from room\.token"):
        settings_from_mapping({"room": {"token": "same", "clinician_token": "same"}})


@pytest.mark.slow
async def test_the_room_command_prints_both_links_and_only_the_private_one_admits_the_clinician(tmp_path) -> None:
    env = {**os.environ, "SESSIONBOT_ROOM_TOKEN": "participant-tok", "SESSIONBOT_ROOM_CLINICIAN_TOKEN": "clinician-tok"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "room", "--room", "therapy", "--port", "0", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or "Ctrl-C" not in lines[-1]:
            lines.append((await asyncio.wait_for(process.stdout.readline(), 60)).decode())
            assert lines[-1], "the room command exited early"
        participant = next(line for line in lines if line.startswith("room therapy: "))
        private = next(line for line in lines if "private" in line)
        participant_url = RoomUrl.parse(participant.split(": ", 1)[1].strip())
        clinician_url = RoomUrl.parse(private.rsplit(" ", 1)[1].strip())
        assert (participant_url.token, clinician_url.token) == ("participant-tok", "clinician-tok")
        assert clinician_url.clinician and not participant_url.clinician

        async def join_as(url: RoomUrl, role: str) -> dict:
            async with websockets.connect(url.websocket) as ws:
                await ws.send(json.dumps({"type": "join", "room": url.room, "token": url.token, "name": "X",
                                          "role": role}))
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

        assert (await join_as(clinician_url, "clinician"))["role"] == "clinician"
        assert (await join_as(participant_url, "clinician"))["code"] == "role-needs-clinician-token"
    finally:
        process.kill()
        await process.wait()
