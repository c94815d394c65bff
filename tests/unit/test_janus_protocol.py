"""Janus links, message shapes, transaction matching, identities and the relay track."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from bot.call.janus_identity import JanusIdentities
from bot.call.janus_protocol import (
    JanusMessageError,
    JanusUrl,
    Transactions,
    parse_message,
    publishers_in,
    subscribed_streams,
)
from bot.call.relay import MAX_QUEUED_FRAMES, RelayTrack


@pytest.mark.parametrize(("link", "websocket", "room"), [
    ("janus://127.0.0.1:8188/1234", "ws://127.0.0.1:8188/", 1234),
    ("janus://janus.example/7", "ws://janus.example:8188/", 7),
    ("janus+wss://janus.example/42", "wss://janus.example:443/", 42),
    ("janus+wss://[::1]:8989/5/", "wss://[::1]:8989/", 5),
])
def test_links_parse(link: str, websocket: str, room: int) -> None:
    url = JanusUrl.parse(link)
    assert (url.websocket, url.room) == (websocket, room)


@pytest.mark.parametrize(("link", "says"), [
    ("http://127.0.0.1:8188/1234", "janus://HOST:PORT/ROOM"),
    ("janus://127.0.0.1:8188/", "numeric room"),
    ("janus://127.0.0.1:8188/lobby", "numeric room"),
    ("janus://127.0.0.1:8188/0", "numeric room"),
    ("janus://127.0.0.1:99999/1", "bad port"),
])
def test_bad_links_say_what_to_fix(link: str, says: str) -> None:
    with pytest.raises(ValueError, match="Fix:") as error:
        JanusUrl.parse(link)
    assert says in str(error.value)


@pytest.mark.parametrize("raw", ["", "[]", "nope", '{"transaction": "x"}', '{"janus": 5}',
                                 '{"janus": "event", "jsep": {"type": "offer"}}',
                                 '{"janus": "event", "plugindata": {"plugin": "x"}}'])
def test_malformed_messages_are_refused(raw: str) -> None:
    with pytest.raises(JanusMessageError):
        parse_message(raw)


def test_publisher_and_stream_lists() -> None:
    message = parse_message('{"janus": "event", "sender": 3, "plugindata": {"plugin": "janus.plugin.videoroom",'
                            ' "data": {"videoroom": "event", "publishers": [{"id": 11, "display": "Sam",'
                            ' "streams": [{"type": "video", "mid": "1"}, {"type": "audio", "mid": "0"},'
                            ' {"type": "audio", "mid": "2", "disabled": true}]}]}}}')
    [publisher] = publishers_in(message.plugin)
    assert (publisher.id, publisher.display, publisher.audio_mids()) == (11, "Sam", ["0"])
    streams = subscribed_streams({"streams": [{"mid": "0", "feed_id": 11, "feed_display": "Sam", "active": False}]})
    assert streams[0].feed_id == 11 and not streams[0].active
    with pytest.raises(JanusMessageError):
        publishers_in({"publishers": [{"display": "no id"}]})
    with pytest.raises(JanusMessageError):
        subscribed_streams({"streams": "0"})


async def test_replies_match_their_request_in_either_order() -> None:
    table = Transactions()
    first, first_reply = table.open()
    second, second_reply = table.open()
    # The plugin event of the second request comes before its ack; the first gets its ack first.
    assert table.resolve(parse_message(f'{{"janus": "ack", "transaction": "{first}"}}'))
    assert table.resolve(parse_message(f'{{"janus": "event", "transaction": "{second}"}}'))
    assert not first_reply.done() and second_reply.done()
    assert not table.resolve(parse_message(f'{{"janus": "ack", "transaction": "{second}"}}'))  # late ack: ignored
    assert table.resolve(parse_message(f'{{"janus": "event", "transaction": "{first}", "sender": 9}}'))
    assert (await first_reply).sender == 9
    assert not table.resolve(parse_message('{"janus": "event", "transaction": "unknown"}'))
    assert not table.resolve(parse_message('{"janus": "event"}'))


async def test_keepalive_is_answered_by_its_ack_and_a_closed_socket_fails_what_waits() -> None:
    table = Transactions()
    keepalive, ack = table.open(ack_is_reply=True)
    table.resolve(parse_message(f'{{"janus": "ack", "transaction": "{keepalive}"}}'))
    assert (await ack).janus == "ack"
    _, waiting = table.open()
    table.fail_all(ConnectionError("closed"))
    with pytest.raises(ConnectionError):
        await waiting


def test_a_rejoiner_keeps_one_identity_and_namesakes_stay_apart() -> None:
    identities = JanusIdentities()
    sam = identities.for_feed(1, "Sam")
    assert sam.id == "janus-1" and identities.for_feed(1, "ignored") is sam
    assert identities.release(1) is sam
    assert identities.for_feed(2, "Sam") is sam  # rejoined with a new feed id
    other_sam = identities.for_feed(3, "Sam")  # a second "Sam" at the same time
    assert other_sam.id == "janus-3" != sam.id
    assert identities.release(3) is other_sam
    identities.forget_feeds()  # Janus restarted: every feed id is new
    assert identities.for_feed(40, " Sam ") is sam
    assert identities.for_feed(41, "").display_name == "participant 41"
    assert identities.release(999) is None


def _frame(value: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.full((1, 960), value, dtype=np.int16), format="s16", layout="mono")
    frame.sample_rate = 48_000
    return frame


async def test_relay_keeps_the_newest_audio_and_ends_its_reader() -> None:
    relay = RelayTrack()
    for value in range(MAX_QUEUED_FRAMES + 3):
        relay.push(_frame(value))
    assert relay.dropped == 3
    first = await relay.recv()
    assert int(first.to_ndarray()[0, 0]) == 3  # the oldest were dropped, not the newest
    reader = asyncio.ensure_future(_drain(relay))
    await asyncio.sleep(0.01)
    relay.stop()
    assert await asyncio.wait_for(reader, 1) == MAX_QUEUED_FRAMES - 1
    relay.push(_frame(1))  # after the end: ignored
    with pytest.raises(MediaStreamError):
        await relay.recv()


async def _drain(relay: RelayTrack) -> int:
    count = 0
    try:
        while True:
            await relay.recv()
            count += 1
    except MediaStreamError:
        return count
