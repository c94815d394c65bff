"""Hypothesis fuzzing of the room server's message handler (parse_client_message):
whatever arrives, the answer is a validated message or a ProtocolError with a known code,
never another exception. The websocket-level fuzzing is in tests/integration/test_room_server_limits.py."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.call.room_protocol import (
    Candidate,
    Description,
    Join,
    Leave,
    ProtocolError,
    parse_client_message,
)

KNOWN_CODES = {"binary", "not-json", "no-type", "invalid"}
TYPES = ["join", "offer", "answer", "candidate", "leave", "welcome", "error", "", "JOIN"]
FIELDS = ["room", "token", "name", "role", "to", "sdp", "candidate", "sdpMid", "sdpMLineIndex", "type", "from"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=6,
)


@st.composite
def message_like(draw: st.DrawFn) -> dict[str, Any]:
    """Objects shaped like protocol messages: a plausible type and a mix of real and stray fields."""
    message: dict[str, Any] = {"type": draw(st.sampled_from(TYPES) | st.text(max_size=10))}
    for key in draw(st.lists(st.sampled_from(FIELDS) | st.text(max_size=8), max_size=6, unique=True)):
        message[key] = draw(json_values | st.sampled_from(["alpha", "p1", "client", "v=0\r\n"]))
    return message


raw_messages = (
    st.text(max_size=120)
    | st.binary(max_size=120)
    | json_values.map(json.dumps)
    | message_like().map(json.dumps)
    | message_like().map(lambda m: json.dumps(m)[: len(json.dumps(m)) // 2])  # truncated JSON
)

FUZZ_EXAMPLES = 2000


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw_messages)
def test_any_input_is_a_valid_message_or_a_protocol_error(raw: str | bytes) -> None:
    try:
        message = parse_client_message(raw)
    except ProtocolError as problem:
        assert problem.code in KNOWN_CODES
        assert problem.message and len(problem.message) < 500
        return
    assert isinstance(message, Join | Description | Candidate | Leave)
    # What was accepted re-validates to the same message: nothing half-parsed gets through.
    assert parse_client_message(json.dumps(message.model_dump(exclude_none=True))) == message
