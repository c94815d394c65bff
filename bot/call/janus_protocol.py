"""Janus gateway wire format: call links, message shapes and request/reply matching.

Janus answers a request with a `transaction` field; asynchronous plugin requests
get an `ack` and later an `event`, and the event may arrive before the ack, so
replies are matched by transaction in either order. Messages are validated here
and nowhere else: a malformed one raises `JanusMessageError`, which the
connector logs (by type only) and skips.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.net_policy import cleartext_problem

SUBPROTOCOL = "janus-protocol"
VIDEOROOM = "janus.plugin.videoroom"
MAX_MESSAGE_BYTES = 1 << 20
NO_SUCH_ROOM = 426  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
SCHEMES = {"janus": "ws", "janus+ws": "ws", "janus+wss": "wss"}


class JanusMessageError(ValueError):
    """A message from Janus that does not have the documented shape."""


@dataclass(frozen=True)
class JanusUrl:
    """`janus://HOST:PORT/ROOM` (plain websockets) or `janus+wss://HOST:PORT/ROOM` (TLS)."""

    websocket: str
    room: int
    host: str

    @classmethod
    def parse(cls, link: str) -> JanusUrl:
        parts = urlsplit(link)
        scheme = SCHEMES.get(parts.scheme)
        if scheme is None:
            raise ValueError(f"not a Janus link: {link!r}. Fix: use janus://HOST:PORT/ROOM or janus+wss://HOST:PORT/ROOM.")
        room = parts.path.strip("/")
        if not parts.hostname or not room.isdigit() or int(room) <= 0:
            raise ValueError(
                f"Janus link {link!r} needs a host and a numeric room. Fix: e.g. janus://127.0.0.1:8188/1234."
            )
        try:
            port = parts.port or (443 if scheme == "wss" else 8188)
        except ValueError:
            raise ValueError(f"Janus link {link!r} has a bad port. Fix: a number from 1 to 65535.") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(websocket=f"{scheme}://{host}:{port}/", room=int(room), host=parts.hostname)


def insecure_janus_link(link: str) -> str | None:
    """Why a janus:// link (plain websocket: room PIN and API token readable on the wire) is refused, or None
    when it is janus+wss:// or to this machine. Refused unless janus.allow_insecure_websocket is set."""
    return cleartext_problem(
        link, key=f"call link {link!r}", flag="janus.allow_insecure_websocket",
        carries="the room PIN and the Janus API token", fix="use janus+wss://HOST:PORT/ROOM (TLS)",
        cleartext_schemes=tuple(name for name, transport in SCHEMES.items() if transport == "ws"),
    )


class _Lenient(BaseModel):
    # Janus adds fields between versions: unknown ones are ignored, known ones are checked.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Jsep(_Lenient):
    type: Literal["offer", "answer"]
    sdp: str = Field(min_length=1, max_length=256_000)


class PluginData(_Lenient):
    plugin: str
    data: dict[str, Any]


class JanusError(_Lenient):
    code: int
    reason: str = ""


class JanusMessage(_Lenient):
    janus: str
    transaction: str | None = None
    session_id: int | None = None
    sender: int | None = None
    data: dict[str, Any] | None = None
    plugindata: PluginData | None = None
    jsep: Jsep | None = None
    error: JanusError | None = None

    @property
    def plugin(self) -> dict[str, Any]:
        return self.plugindata.data if self.plugindata is not None else {}


class PublishedStream(_Lenient):
    type: str
    mid: str
    disabled: bool = False


class Publisher(_Lenient):
    id: int
    display: str = ""
    streams: list[PublishedStream] = Field(default_factory=list)

    def audio_mids(self) -> list[str]:
        return [s.mid for s in self.streams if s.type == "audio" and not s.disabled]


class SubscribedStream(_Lenient):
    mid: str
    type: str = ""
    feed_id: int | None = None
    feed_display: str = ""
    active: bool = True


def parse_message(raw: str | bytes) -> JanusMessage:
    try:
        return JanusMessage.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise JanusMessageError(type(exc).__name__) from None


def publishers_in(data: dict[str, Any]) -> list[Publisher]:
    """The `publishers` list of a videoroom `joined` or `event` (absent = none)."""
    raw = data.get("publishers") or []
    if not isinstance(raw, list):
        raise JanusMessageError("publishers is not a list")
    try:
        return [Publisher.model_validate(p) for p in raw]
    except ValidationError:
        raise JanusMessageError("bad publisher entry") from None


def subscribed_streams(data: dict[str, Any]) -> list[SubscribedStream]:
    raw = data.get("streams") or []
    if not isinstance(raw, list):
        raise JanusMessageError("streams is not a list")
    try:
        return [SubscribedStream.model_validate(s) for s in raw]
    except ValidationError:
        raise JanusMessageError("bad stream entry") from None


def feed_id(value: object) -> int | None:
    """`unpublished`/`leaving` carry a feed id (or the string "ok" for our own)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Transactions:
    """Outstanding requests, each resolved by the first reply that is not a bare `ack`
    (or by the `ack` itself for requests that get nothing else, like keepalive)."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[asyncio.Future[JanusMessage], bool]] = {}

    def open(self, ack_is_reply: bool = False) -> tuple[str, asyncio.Future[JanusMessage]]:
        transaction = secrets.token_hex(8)
        future: asyncio.Future[JanusMessage] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = (future, ack_is_reply)
        return transaction, future

    def resolve(self, message: JanusMessage) -> bool:
        """True when `message` answered an outstanding request."""
        if message.transaction is None:
            return False
        entry = self._pending.get(message.transaction)
        if entry is None:
            return False  # e.g. the ack that follows an event we already took
        future, ack_is_reply = entry
        if message.janus == "ack" and not ack_is_reply:
            return True
        del self._pending[message.transaction]
        if not future.done():
            future.set_result(message)
        return True

    def forget(self, transaction: str) -> None:
        self._pending.pop(transaction, None)

    def fail_all(self, exc: Exception) -> None:
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
