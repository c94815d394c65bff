"""Messages of the embedded room's signalling protocol (JSON over one websocket).

client → server: join, offer, answer, candidate, leave
server → client: welcome, peer-joined, peer-left, offer, answer, candidate (with `from`), error

Every room has two tokens: the participant token admits `client` and `guest`;
the clinician token (kept private by the clinician) also admits `clinician` and
`bot`. The roles the server relays are the ones it verified, never a claim.

Peer to peer, on each pair's RTCDataChannel "chat" (JSON text):
  either way: chat {text} (a `from` field may be present and is never trusted)
  bot → page: ask-consent {text}
  page → bot: leave-request, consent {agreed}
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError

MAX_MESSAGE_BYTES = 64 * 1024
MAX_CHANNEL_MESSAGE_BYTES = 16 * 1024
MAX_CHAT_CHARS = 2000
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
PRIVILEGED_ROLES = frozenset({"clinician", "bot"})


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Join(_Message):
    type: Literal["join"]
    room: str = Field(pattern=NAME_PATTERN)
    token: str = Field(max_length=256)
    name: str = Field(min_length=1, max_length=64)
    role: Literal["clinician", "client", "bot", "guest"] = "guest"
    # The `resume` secret of an earlier welcome: the same peer again after its socket dropped, with
    # its id, role and media links intact (no peer-left, no peer-joined for the others).
    resume: str | None = Field(None, max_length=64)


class Description(_Message):
    type: Literal["offer", "answer"]
    to: str = Field(max_length=64)
    sdp: str = Field(max_length=MAX_MESSAGE_BYTES)


class IceCandidate(_Message):
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = None
    sdpMLineIndex: int | None = None


class Candidate(_Message):
    type: Literal["candidate"]
    to: str = Field(max_length=64)
    candidate: IceCandidate | None = None


class Leave(_Message):
    type: Literal["leave"]


ClientMessage = Annotated[Join | Description | Candidate | Leave, Field(discriminator="type")]
_client_message = TypeAdapter(ClientMessage)


def parse_client_message(raw: str | bytes) -> Join | Description | Candidate | Leave:
    if isinstance(raw, bytes):
        raise ProtocolError("binary", "binary frames are not part of this protocol; send JSON text")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("not-json", "message is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("no-type", "message must be a JSON object with a string 'type'")
    try:
        return _client_message.validate_python(data)
    except ValidationError as exc:
        raise _validation_problem(exc) from None


def _validation_problem(exc: ValidationError) -> ProtocolError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "type"
    return ProtocolError("invalid", f"{where}: {first['msg']}")


class Chat(_Message):
    type: Literal["chat"]
    text: str
    sender_claim: str | None = Field(None, alias="from")  # what the sender says it is; never shown, never trusted


class LeaveRequest(_Message):
    type: Literal["leave-request"]


class ConsentReply(_Message):
    type: Literal["consent"]
    agreed: StrictBool


ChannelMessage = Annotated[Chat | LeaveRequest | ConsentReply, Field(discriminator="type")]
_channel_message = TypeAdapter(ChannelMessage)


def parse_channel_message(raw: str | bytes) -> Chat | LeaveRequest | ConsentReply:
    """One message a peer sent the bot on its data channel; ProtocolError (content-free) if malformed."""
    if isinstance(raw, bytes):
        raise ProtocolError("binary", "binary data-channel messages are not part of this protocol")
    if len(raw) > MAX_CHANNEL_MESSAGE_BYTES:
        raise ProtocolError("too-big", f"data-channel message over {MAX_CHANNEL_MESSAGE_BYTES} characters")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("not-json", "message is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("no-type", "message must be a JSON object with a string 'type'")
    try:
        return _channel_message.validate_python(data)
    except ValidationError as exc:
        raise _validation_problem(exc) from None


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class RoomUrl(BaseModel):
    """http://HOST:PORT/room/NAME?token=TOKEN: the link a person opens and the bot joins.

    The clinician link carries the clinician token and `as=clinician` (which only
    preselects the role in the page: the token alone decides what the server allows)."""

    model_config = ConfigDict(frozen=True)
    base: str  # http(s)://host:port
    room: str = Field(pattern=NAME_PATTERN)
    token: str | None = None
    clinician: bool = False

    @property
    def websocket(self) -> str:
        return self.base.replace("http", "ws", 1) + "/ws"

    @property
    def link(self) -> str:
        params = ({"token": self.token} if self.token else {}) | ({"as": "clinician"} if self.clinician else {})
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base}/room/{self.room}{query}"

    @classmethod
    def parse(cls, url: str) -> RoomUrl:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme not in ("http", "https") or len(segments) != 2 or segments[0] != "room":
            raise ValueError(
                f"{url!r} is not a room link. Expected http://HOST:PORT/room/NAME?token=TOKEN "
                "(as printed by `sessionbot room`)."
            )
        query = parse_qs(parts.query)
        token = query.get("token", [None])[0]
        clinician = query.get("as", [None])[0] == "clinician"
        try:
            return cls(base=f"{parts.scheme}://{parts.netloc}", room=segments[1], token=token, clinician=clinician)
        except ValidationError:
            raise ValueError(f"room name {segments[1]!r} may use only letters, digits, '.', '_' and '-'.") from None
