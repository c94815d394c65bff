"""The Janus connector's message handler under fuzzing, its settings, and its secrets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.call.base import AudioTrackReceived, CallJoinError, ParticipantJoined, ParticipantLeft
from bot.call.factory import connector_for
from bot.call.janus import JanusConnector, read_secret
from bot.call.janus_protocol import JanusUrl, Publisher
from bot.config import ConfigError, JanusSettings

PUBLISHER, SUBSCRIBER = 101, 202

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**53), st.floats(allow_nan=False),
                     st.text(max_size=12), st.sampled_from(["ok", "offer", "answer", "audio", "0", "1"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["id", "mid", "type", "display", "feed_id", "active", "streams",
                                     "publishers", "videoroom", "sdp", "code", "reason"]) | st.text(max_size=6),
                    inner, max_size=5),
), max_leaves=20)


def _mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, valid, invalid)


_streams = st.lists(st.fixed_dictionaries({"mid": st.sampled_from(["0", "1", "2"])}, optional={
    "feed_id": _mostly(st.integers(1, 5), _scalars), "type": _mostly(st.sampled_from(["audio", "video"]), _scalars),
    "active": _mostly(st.booleans(), _scalars), "feed_display": _mostly(st.text(max_size=8), _scalars)}), max_size=4)
_publishers = st.lists(st.fixed_dictionaries({"id": _mostly(st.integers(1, 5), _scalars)}, optional={
    "display": _mostly(st.text(max_size=8), _scalars),
    "streams": _mostly(st.lists(st.fixed_dictionaries({"type": st.sampled_from(["audio", "video"]),
                                                       "mid": st.sampled_from(["0", "1"])}), max_size=2), _scalars)}),
    max_size=3)
_plugin_data = st.fixed_dictionaries({}, optional={
    "videoroom": _mostly(st.sampled_from(["event", "joined", "attached", "updated", "talking"]), _scalars),
    "publishers": _mostly(_publishers, _json), "streams": _mostly(_streams, _json),
    "unpublished": _mostly(st.integers(1, 5), _scalars), "leaving": _mostly(st.integers(1, 5), _scalars),
    "error_code": _mostly(st.integers(400, 500), _scalars),
})
# Well-typed envelopes (so the handlers behind validation are reached) with adversarial contents.
_messages = st.fixed_dictionaries({
    "janus": _mostly(st.just("event"), st.sampled_from(["ack", "success", "error", "webrtcup", "media", "hangup",
                     "slowlink", "timeout", "detached", "trickle", "keepalive", "server_info", "bogus"])),
    "sender": st.sampled_from([PUBLISHER, PUBLISHER, SUBSCRIBER, 7]),
    "plugindata": st.fixed_dictionaries({"plugin": st.just("janus.plugin.videoroom"), "data": _plugin_data}),
}, optional={
    "transaction": st.text(max_size=8),
    "session_id": st.integers(0, 2**53),
    "jsep": st.fixed_dictionaries({"type": st.sampled_from(["offer", "answer"]), "sdp": st.text(min_size=1, max_size=30)}),
    "error": st.fixed_dictionaries({"code": st.integers(), "reason": st.text(max_size=10)}),
})
# Anything at all: wrong types, wrong shapes, not JSON.
_garbage = st.one_of(_json, st.text(max_size=20), st.fixed_dictionaries({"janus": _scalars}, optional={
    "sender": _scalars, "plugindata": _json, "jsep": _json, "transaction": _scalars}))


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _connector(loop: asyncio.AbstractEventLoop) -> JanusConnector:
    async def make() -> JanusConnector:
        connector = JanusConnector(JanusUrl.parse("janus://127.0.0.1:8188/1234"), "bot", JanusSettings())
        # As after a join: both handles known, but no socket (requests fail as on a dropped link).
        connector._publisher_handle, connector._subscriber_handle = PUBLISHER, SUBSCRIBER
        return connector

    return loop.run_until_complete(make())


async def _deliver(connector: JanusConnector, raw: str | bytes) -> None:
    connector.on_raw_message(raw)
    while connector._background:  # what a message started (subscribe, answer) must not crash either
        await asyncio.gather(*connector._background, return_exceptions=True)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.one_of(_messages, _messages, _garbage), min_size=1, max_size=3))
def test_malformed_or_unexpected_messages_never_crash_the_handler(
    loop: asyncio.AbstractEventLoop, batch: list[Any]
) -> None:
    connector = _connector(loop)
    for item in batch:
        raw = item if isinstance(item, str) else json.dumps(item)
        loop.run_until_complete(_deliver(connector, raw))
    loop.run_until_complete(_deliver(connector, b"\xff\xfe not utf-8"))
    # State stays coherent: every mapped mid names an integer feed.
    assert all(isinstance(feed, int) for feed in connector._mid_feed.values())


def test_a_leaving_feed_ends_its_participant_once(loop: asyncio.AbstractEventLoop) -> None:
    connector = _connector(loop)

    async def scenario() -> list[object]:
        connector._arrived(Publisher(id=5, display="Sam"))
        connector._mid_feed["0"] = 5
        for key in ("unpublished", "leaving"):  # Janus sends both
            await _deliver(connector, json.dumps({"janus": "event", "sender": PUBLISHER, "plugindata": {
                "plugin": "janus.plugin.videoroom", "data": {"videoroom": "event", key: 5}}}))
        events = []
        while not connector._events.empty():
            events.append(connector._events.get_nowait())
        return events

    events = loop.run_until_complete(scenario())
    assert [type(e) for e in events] == [ParticipantJoined, AudioTrackReceived, ParticipantLeft]
    assert events[2].participant.display_name == "Sam" and connector._mid_feed == {}


def test_janus_settings_errors_name_the_key(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match=r"janus\.pin: unknown key"):
        make_settings(janus={"pin": "1234"})  # a PIN never goes in the file
    with pytest.raises(ConfigError, match=r"janus\.reconnect_max_s: bad value -1"):
        make_settings(janus={"reconnect_max_s": -1})
    assert make_settings(janus={"allow_create_room": True}).janus.tls_verify is True


def test_factory_turns_janus_links_into_the_janus_connector(make_settings: Any) -> None:
    settings = make_settings()
    assert isinstance(connector_for("janus+wss://janus.example/9", settings), JanusConnector)
    with pytest.raises(CallJoinError, match="numeric room"):
        connector_for("janus://janus.example/lobby", settings)


def test_secrets_come_from_the_environment_or_an_owner_only_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin = tmp_path / "pin"
    pin.write_text("4321\n")
    pin.chmod(0o644)
    with pytest.raises(CallJoinError, match="chmod 600"):
        read_secret("SESSIONBOT_JANUS_PIN", pin, "pin_file")
    pin.chmod(0o600)
    assert read_secret("SESSIONBOT_JANUS_PIN", pin, "pin_file") == "4321"
    monkeypatch.setenv("SESSIONBOT_JANUS_PIN", "9999")
    assert read_secret("SESSIONBOT_JANUS_PIN", pin, "pin_file") == "9999"
    monkeypatch.delenv("SESSIONBOT_JANUS_PIN")
    with pytest.raises(CallJoinError, match="no such file"):
        read_secret("SESSIONBOT_JANUS_PIN", tmp_path / "missing", "pin_file")
    assert read_secret("SESSIONBOT_JANUS_PIN", None, "pin_file") is None
