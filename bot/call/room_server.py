"""The embedded room: a websockets signalling relay for P2P calls, plus the web page
people use to join from a browser.

Every room has two join tokens (compared in constant time): the participant
token admits the roles `client` and `guest`; the clinician token, which the
clinician keeps private, also admits `clinician` and `bot`. The role the server
relays to everyone (welcome, peer-joined) is the one it admitted. The server only
relays session descriptions between the peers of one room; media flows peer to
peer and never through it. A malformed message is answered with an error and
skipped; it never affects the sender's other messages or any other room.

A peer whose socket drops (no close frame either way) keeps its place for `resume_grace_s`:
what is relayed to it meanwhile waits (bounded), and a `join` carrying the
`resume` secret of its welcome takes the place back, so media links set up
through the room survive a signalling outage. Past the grace the others are
told it left.

Each connection is limited (RoomLimits): a message larger than
`max_message_bytes` closes that connection (websocket close 1009, before the
message is buffered whole); more than `messages_per_s` on average (bursts up
to `burst`) are dropped with one "rate-limited" error per episode.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import secrets
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bot.call.room_protocol import (
    MAX_MESSAGE_BYTES,
    PRIVILEGED_ROLES,
    Candidate,
    Description,
    Join,
    Leave,
    ProtocolError,
    RoomUrl,
    encode,
    parse_client_message,
)
from bot.call.rate_limit import TokenBucket
from bot.log import get_logger

log = get_logger(__name__)

CLOSE_REFUSED = 4003


@dataclass(frozen=True)
class RoomLimits:
    max_message_bytes: int = MAX_MESSAGE_BYTES
    messages_per_s: float = 50.0
    burst: int = 200
    resume_grace_s: float = 20.0
    resume_backlog: int = 256  # messages kept for a detached peer; the oldest go first


@dataclass
class Peer:
    id: str
    name: str
    role: str
    connection: ServerConnection | None  # None while detached (socket dropped, place kept)
    resume: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    backlog: list[dict[str, object]] = field(default_factory=list)
    expiry: asyncio.TimerHandle | None = None

    def public(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "role": self.role}


@dataclass
class Room:
    name: str
    token: str
    clinician_token: str
    peers: dict[str, Peer] = field(default_factory=dict)


class RoomServer:
    """`rooms` maps each room to its participant token; `clinician_tokens` to its clinician token
    (a fresh random one for every room it leaves out). The two must differ."""

    def __init__(
        self, rooms: dict[str, str], host: str = "127.0.0.1", port: int = 8765, limits: RoomLimits | None = None,
        clinician_tokens: dict[str, str] | None = None,
    ) -> None:
        self.limits = limits or RoomLimits()
        chosen = clinician_tokens or {}
        self.rooms = {
            name: Room(name, token, chosen.get(name) or secrets.token_urlsafe(16)) for name, token in rooms.items()
        }
        for room in self.rooms.values():
            if hmac.compare_digest(room.token.encode(), room.clinician_token.encode()):
                raise ValueError(
                    f"room {room.name}: the clinician token equals the participant token, so every participant "
                    "could act as the clinician. Fix: give room.clinician_token (SESSIONBOT_ROOM_CLINICIAN_TOKEN) "
                    "a different value from room.token (SESSIONBOT_ROOM_TOKEN), or leave it unset."
                )
        self.host = host
        self.port = port
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self._page = resources.files("bot.call").joinpath("static/room.html").read_bytes()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def link(self, room: str, role: Literal["participant", "clinician"] = "participant") -> RoomUrl:
        """The link for participants, or the clinician's private one (the bot joins with that too)."""
        if role == "clinician":
            return RoomUrl(base=self.base_url, room=room, token=self.rooms[room].clinician_token, clinician=True)
        return RoomUrl(base=self.base_url, room=room, token=self.rooms[room].token)

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._http,
            max_size=self.limits.max_message_bytes,
            max_queue=32,
        )
        self.port = self._server.sockets[0].getsockname()[1]  # resolves port 0
        log.info("room_server_started", host=self.host, port=self.port, rooms=len(self.rooms))

    async def stop(self) -> None:
        for room in self.rooms.values():
            for peer in room.peers.values():
                if peer.expiry is not None:
                    peer.expiry.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            log.info("room_server_stopped")

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def drop_connection(self, room: str, peer_id: str) -> bool:
        """Cut a peer's signalling socket as a network failure would (no close frame): for rehearsing
        faults (`sessionbot demo --impair signalling=drop`) and tests. False if no such peer is attached."""
        peer = self.rooms[room].peers.get(peer_id)
        if peer is None or peer.connection is None:
            return False
        log.warning("room_peer_connection_cut", room=room, peer_id=peer_id)
        peer.connection.transport.abort()
        return True

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None  # continue with the websocket handshake
        if path.startswith("/room/") and path.count("/") == 2:
            headers = Headers(
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Length", str(len(self._page))),
                    ("Cache-Control", "no-store"),
                    ("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                     "style-src 'unsafe-inline'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:"),
                    ("Referrer-Policy", "no-referrer"),
                ]
            )
            return Response(200, "OK", headers, self._page)
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found. Open /room/NAME?token=TOKEN.\n")

    async def _handle(self, connection: ServerConnection) -> None:
        peer: Peer | None = None
        room: Room | None = None
        bucket = TokenBucket(self.limits.messages_per_s, self.limits.burst)
        throttled = 0
        left = False
        try:
            async for raw in connection:
                if not bucket.allow():
                    throttled += 1
                    if throttled == 1:
                        log.warning("signalling_rate_limited", peer_id=peer.id if peer else None)
                        await _send(connection, {"type": "error", "code": "rate-limited",
                                                 "message": "too many messages; slow down (dropped)"})
                    continue
                throttled = 0
                try:
                    message = parse_client_message(raw)
                    if peer is None:
                        room, peer = await self._admit(connection, message)
                        if peer is None:
                            return
                    elif isinstance(message, Description | Candidate):
                        await self._relay(room, peer, message)  # type: ignore[arg-type]
                    elif isinstance(message, Leave):
                        left = True
                        return
                    else:
                        raise ProtocolError("already-joined", "this connection has already joined a room")
                except ProtocolError as problem:
                    log.warning("signalling_message_invalid", code=problem.code, peer_id=peer.id if peer else None)
                    await _send(connection, {"type": "error", "code": problem.code, "message": problem.message})
        except ConnectionClosed:
            pass
        finally:
            # Neither side sent a close frame: the network failed, not the peer; keep its place.
            dropped = connection.protocol.close_rcvd is None and connection.protocol.close_sent is None
            if room is not None and peer is not None and peer.connection is connection:
                if left or not dropped or self.limits.resume_grace_s <= 0:
                    await self._remove(room, peer)
                else:
                    self._detach(room, peer)

    def _detach(self, room: Room, peer: Peer) -> None:
        peer.connection = None
        log.info("room_peer_detached", room=room.name, peer_id=peer.id, grace_s=self.limits.resume_grace_s)

        def expire() -> None:
            if peer.connection is None and room.peers.get(peer.id) is peer:
                asyncio.ensure_future(self._remove(room, peer))

        peer.expiry = asyncio.get_running_loop().call_later(self.limits.resume_grace_s, expire)

    async def _remove(self, room: Room, peer: Peer) -> None:
        if peer.expiry is not None:
            peer.expiry.cancel()
        room.peers.pop(peer.id, None)
        log.info("room_peer_left", room=room.name, peer_id=peer.id, peers=len(room.peers))
        await self._broadcast(room, {"type": "peer-left", "id": peer.id})

    async def _resume(self, connection: ServerConnection, room: Room, token: str) -> Peer | None:
        """The peer whose welcome carried `token`, attached to this connection; None if its place is gone."""
        peer = next((p for p in room.peers.values() if hmac.compare_digest(p.resume.encode(), token.encode())), None)
        if peer is None:
            return None
        if peer.expiry is not None:
            peer.expiry.cancel()
        # The old socket may not have noticed the drop yet: the secret proves who this is.
        peer.connection = connection
        others = [p.public() for p in room.peers.values() if p.id != peer.id]
        log.info("room_peer_resumed", room=room.name, peer_id=peer.id, waiting=len(peer.backlog))
        await _send(connection, {"type": "welcome", "id": peer.id, "room": room.name, "role": peer.role,
                                 "peers": others, "resume": peer.resume, "resumed": True})
        backlog, peer.backlog = peer.backlog, []
        for message in backlog:
            await _send(connection, message)
        return peer

    async def _admit(self, connection: ServerConnection, message: object) -> tuple[Room | None, Peer | None]:
        if not isinstance(message, Join):
            raise ProtocolError("join-first", "send a 'join' message with room, token and name first")
        room = self.rooms.get(message.room)
        # Same answer for an unknown room and a wrong token: do not reveal which rooms exist.
        given = message.token.encode()
        as_participant = room is not None and hmac.compare_digest(given, room.token.encode())
        as_clinician = room is not None and hmac.compare_digest(given, room.clinician_token.encode())
        if room is None or not (as_participant or as_clinician):
            log.warning("room_join_refused", reason="bad-token")
            await _send(
                connection,
                {"type": "error", "code": "bad-token",
                 "message": "refused: unknown room or wrong join token. Use the full link given by the clinician."},
            )
            await connection.close(CLOSE_REFUSED, "unknown room or wrong token")
            return None, None
        if message.resume is not None:
            resumed = await self._resume(connection, room, message.resume)
            if resumed is None:
                log.warning("room_join_refused", reason="resume-expired")
                await _send(connection, {"type": "error", "code": "resume-expired",
                                         "message": "refused: that place in the room has expired; join again."})
                await connection.close(CLOSE_REFUSED, "resume expired")
                return None, None
            return room, resumed
        if message.role in PRIVILEGED_ROLES and not as_clinician:
            log.warning("room_join_refused", reason="role-needs-clinician-token", role=message.role)
            await _send(
                connection,
                {"type": "error", "code": "role-needs-clinician-token",
                 "message": f"refused: the role {message.role!r} needs the clinician's private link; this link "
                            "admits only the roles 'client' and 'guest'. Fix: join as client or guest, or (the "
                            "clinician and the bot) use the clinician link printed by `sessionbot room`."},
            )
            await connection.close(CLOSE_REFUSED, "role needs the clinician token")
            return None, None
        peer = Peer(id=f"p{next(self._ids)}", name=message.name, role=message.role, connection=connection)
        others = [p.public() for p in room.peers.values()]
        room.peers[peer.id] = peer
        log.info("room_peer_joined", room=room.name, peer_id=peer.id, role=peer.role, peers=len(room.peers))
        await _send(connection, {"type": "welcome", "id": peer.id, "room": room.name, "role": peer.role,
                                 "peers": others, "resume": peer.resume})
        await self._broadcast(room, {"type": "peer-joined", "peer": peer.public()}, exclude=peer.id)
        return room, peer

    async def _relay(self, room: Room, sender: Peer, message: Description | Candidate) -> None:
        target = room.peers.get(message.to)
        if target is None:
            raise ProtocolError("unknown-peer", f"no peer {message.to!r} in this room")
        payload = message.model_dump(exclude={"to"}, exclude_none=False)
        payload["from"] = sender.id
        await self._deliver(target, payload)

    async def _broadcast(self, room: Room, message: dict[str, object], exclude: str | None = None) -> None:
        await asyncio.gather(*(self._deliver(p, message) for p in list(room.peers.values()) if p.id != exclude))

    async def _deliver(self, peer: Peer, message: dict[str, object]) -> None:
        if peer.connection is not None:
            await _send(peer.connection, message)
            return
        peer.backlog.append(message)
        del peer.backlog[: max(0, len(peer.backlog) - self.limits.resume_backlog)]


async def _send(connection: ServerConnection, message: dict[str, object]) -> None:
    try:
        await connection.send(encode(message))
    except ConnectionClosed:
        pass
