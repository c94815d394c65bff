"""CallConnector for the embedded room: a full-mesh P2P client over aiortc.

The newcomer offers to every peer already present; peers answer. aiortc puts
all ICE candidates in the SDP, so no trickle is needed from us, but trickled
candidates from browsers are accepted. Each remote peer gets its own outbound
track, so the bot can speak to one late joiner without repeating itself to all.

What a peer sends on its data channel (chat, leave-request, consent) is
attributed to that peer (the server-verified identity of the link it came on,
never a claim inside the message), limited per peer (ChannelLimits: the excess
is dropped, logged once per episode) and, when malformed, logged and skipped.
If the signalling socket drops, the media links stay up (they never went through
it) and the connector takes its place in the room back with the welcome's
`resume` secret, retrying for up to RESUME_WINDOW_S; only then does the call
end. Any other failure of the signalling reader ends the call with
CallEnded(the error's type); nothing a participant sent is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.audio.outbound import SpeakerTrack
from bot.call.base import (
    AudioTrackReceived,
    CallEnded,
    CallEvent,
    CallJoinError,
    ConsentAnswered,
    Delivery,
    LeaveRequested,
    ParticipantJoined,
    ParticipantLeft,
    TextReceived,
    until_call_ended,
)
from bot.call.jitter import new_peer_connection
from bot.call.rate_limit import Throttle
from bot.call.room_protocol import (
    MAX_CHAT_CHARS,
    MAX_MESSAGE_BYTES,
    Chat,
    LeaveRequest,
    ProtocolError,
    RoomUrl,
    encode,
    parse_channel_message,
)
from bot.log import get_logger
from bot.transcribe.segment import Participant

log = get_logger(__name__)

JOIN_TIMEOUT_S = 10.0
# Retrying to take our place back after the signalling socket dropped: within the room server's
# resume grace (RoomLimits.resume_grace_s, 20 s), with backoff.
RESUME_WINDOW_S = 15.0
RESUME_FIRST_WAIT_S = 0.25
RESUME_MAX_WAIT_S = 2.0


class RoomRefused(CallJoinError):
    """The room answered, and said no (bad token, an expired place): retrying will not help."""


@dataclass(frozen=True)
class ChannelLimits:
    """What one peer may send the bot on its data channel: people type and press buttons,
    so far less than the signalling limit (RoomLimits)."""

    messages_per_s: float = 5.0
    burst: int = 20


@dataclass
class _PeerLink:
    participant: Participant
    pc: RTCPeerConnection
    speaker: SpeakerTrack
    throttle: Throttle
    channel: RTCDataChannel | None = None
    pending: list[str] = field(default_factory=list)  # data-channel messages waiting for the channel to open


class RoomConnector:
    def __init__(
        self, url: RoomUrl, display_name: str, role: str = "bot", stun_servers: list[str] | None = None,
        channel_limits: ChannelLimits | None = None,
    ) -> None:
        if not url.token:
            raise CallJoinError("the room link has no token. Fix: use the full link printed by `sessionbot room`.")
        self.url = url
        self.display_name = display_name
        self.role = role
        self._stun = stun_servers or []
        self._channel_limits = channel_limits or ChannelLimits()
        self._ws: ClientConnection | None = None
        self._links: dict[str, _PeerLink] = {}
        self._known: dict[str, Participant] = {}
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._left = False
        self._resume: str | None = None
        self.id: str | None = None
        self.signalling_drops = 0  # socket drops survived by resuming (content-free, for reports)

    # -- CallConnector -----------------------------------------------------

    async def join(self) -> list[Participant]:
        self._ws, reply = await self._connect()
        self.id = reply["id"]
        self._resume = reply.get("resume")
        present = [self._participant(p) for p in reply.get("peers", [])]
        log.info("call_joined", platform="room", participants=len(present))
        for participant in present:
            await self._offer(participant)
        self._reader = asyncio.create_task(self._read(), name="room-signalling")
        return present

    async def _connect(self, resume: str | None = None) -> tuple[ClientConnection, dict[str, Any]]:
        """A signalling socket that has joined the room (or, with `resume`, taken our place back)."""
        try:
            ws = await websockets.connect(self.url.websocket, max_size=MAX_MESSAGE_BYTES, open_timeout=JOIN_TIMEOUT_S)
        except (OSError, InvalidStatus, TimeoutError) as exc:
            raise CallJoinError(f"cannot reach the room at {self.url.base} ({exc}). Fix: is `sessionbot room` running?") from exc
        join: dict[str, object] = {"type": "join", "room": self.url.room, "token": self.url.token,
                                   "name": self.display_name, "role": self.role}
        try:
            await ws.send(encode(join | ({"resume": resume} if resume else {})))
            reply = json.loads(await asyncio.wait_for(ws.recv(), JOIN_TIMEOUT_S))
        except (ConnectionClosed, TimeoutError, json.JSONDecodeError) as exc:
            await ws.close()
            raise CallJoinError(f"the room did not answer the join ({type(exc).__name__}).") from exc
        if not isinstance(reply, dict) or reply.get("type") == "error":
            await ws.close()
            message = reply.get("message") if isinstance(reply, dict) else None
            raise RoomRefused(f"the room refused to let us join: {message}")
        if reply.get("type") != "welcome":
            await ws.close()
            raise CallJoinError(f"unexpected first reply from the room: {reply.get('type')!r}")
        return ws, reply

    def events(self) -> AsyncIterator[CallEvent]:
        return until_call_ended(self._events)

    async def speak(self, samples: np.ndarray, rate: int, to: set[str] | None = None) -> Delivery:
        """Each peer has its own track; with several listeners, the least any of them got."""
        plays = [link.speaker.play(samples, rate).done for pid, link in self._links.items() if to is None or pid in to]
        if not plays:
            return Delivery(total_s=samples.size / rate)
        deliveries = await asyncio.gather(*plays)
        return min(deliveries, key=lambda d: d.played_s)

    def stop_speaking(self) -> None:
        for link in self._links.values():
            link.speaker.interrupt()

    async def send_text(self, text: str, to: set[str] | None = None) -> bool:
        self._post({"type": "chat", "from": self.display_name, "text": text}, to)
        return True

    async def ask_consent(self, text: str, to: set[str]) -> bool:
        """The page shows `text` with agree / decline; the answer arrives as ConsentAnswered."""
        self._post({"type": "ask-consent", "text": text}, to)
        return True

    def _post(self, message: dict[str, object], to: set[str] | None) -> None:
        """Send on each chosen peer's data channel, or queue it until that channel opens."""
        payload = json.dumps(message)
        for pid, link in self._links.items():
            if to is not None and pid not in to:
                continue
            if link.channel is not None and link.channel.readyState == "open":
                link.channel.send(payload)
            else:
                link.pending.append(payload)

    async def leave(self) -> None:
        if self._left:
            return
        self._left = True
        if self._ws is not None:
            try:
                await self._ws.send(encode({"type": "leave"}))
            except ConnectionClosed:
                pass
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        for link in list(self._links.values()):
            await self._close_link(link)
        self._links.clear()
        await self._events.put(CallEnded("left"))
        log.info("call_left", platform="room")

    # -- signalling ----------------------------------------------------------

    async def _read(self) -> None:
        reason = "signalling closed"
        try:
            while not self._left:
                await self._read_until_closed()
                if self._left:
                    return
                if not await self._take_place_back():
                    reason = "signalling lost"
                    break
        except asyncio.CancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - whatever broke the reader, the session must hear the call ended
            reason = type(exc).__name__  # never str(exc): it may quote what a peer sent
            log.error("room_reader_failed", platform="room", error=reason)
        if not self._left:
            await self._events.put(CallEnded(reason))

    async def _read_until_closed(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                try:
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        raise ValueError("not an object")
                    await self._dispatch(message)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("signalling_message_invalid", platform="room", error=type(exc).__name__)
        except ConnectionClosed:
            pass

    async def _take_place_back(self) -> bool:
        """The signalling socket dropped: the media links are still up, so resume our place in the room."""
        if self._resume is None:
            return False
        lost_at = time.monotonic()
        log.warning("room_signalling_lost", platform="room", links=len(self._links))
        wait = RESUME_FIRST_WAIT_S
        while time.monotonic() - lost_at < RESUME_WINDOW_S and not self._left:
            try:
                ws, reply = await self._connect(resume=self._resume)
            except RoomRefused:
                log.warning("room_signalling_resume_refused", platform="room")
                return False
            except CallJoinError:
                await asyncio.sleep(wait)
                wait = min(wait * 2, RESUME_MAX_WAIT_S)
                continue
            self._ws, self._resume = ws, reply.get("resume", self._resume)
            self.signalling_drops += 1
            log.info("room_signalling_restored", platform="room", after_s=round(time.monotonic() - lost_at, 2))
            return True
        return False

    async def _dispatch(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        if kind == "peer-joined":
            # Announced as joined once its offer arrives and a media link exists.
            self._participant(message["peer"])  # type: ignore[arg-type]
        elif kind == "peer-left":
            self._known.pop(str(message["id"]), None)
            link = self._links.pop(str(message["id"]), None)
            if link is not None:
                await self._close_link(link)
                await self._events.put(ParticipantLeft(link.participant))
        elif kind == "offer":
            await self._answer(str(message["from"]), str(message["sdp"]))
        elif kind == "answer":
            link = self._links[str(message["from"])]
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp=str(message["sdp"]), type="answer"))
        elif kind == "candidate":
            await self._add_candidate(str(message["from"]), message.get("candidate"))
        elif kind == "error":
            log.warning("room_error", code=message.get("code"))
        else:
            raise ValueError(f"unknown message type {kind!r}")

    def _participant(self, peer: dict[str, str]) -> Participant:
        participant = Participant(id=str(peer["id"]), display_name=str(peer["name"])[:64], role=peer.get("role"))
        self._known[participant.id] = participant
        return participant

    def _link(self, participant: Participant) -> _PeerLink:
        pc = new_peer_connection(self._stun)
        speaker = SpeakerTrack()
        pc.addTrack(speaker)
        limits = self._channel_limits
        link = _PeerLink(participant, pc, speaker, Throttle(limits.messages_per_s, limits.burst))
        self._links[participant.id] = link
        self._events.put_nowait(ParticipantJoined(participant))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._events.put_nowait(AudioTrackReceived(participant, track))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            self._attach_channel(link, channel)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("peer_connection_state", peer_id=participant.id, state=pc.connectionState)

        return link

    def _attach_channel(self, link: _PeerLink, channel: RTCDataChannel) -> None:
        link.channel = channel

        @channel.on("open")
        def on_open() -> None:
            for payload in link.pending:
                channel.send(payload)
            link.pending.clear()

        @channel.on("message")
        def on_message(data: str | bytes) -> None:
            try:
                self._received(link, data)
            except Exception as exc:  # noqa: BLE001 - one peer's message must not break its channel
                log.error("channel_handler_failed", peer_id=link.participant.id, error=type(exc).__name__)

        if channel.readyState == "open":
            on_open()

    def _received(self, link: _PeerLink, data: str | bytes) -> None:
        """One data-channel message, attributed to the peer of this link whatever it claims."""
        if not link.throttle.allow():
            if link.throttle.dropped == 1:
                log.warning("channel_rate_limited", peer_id=link.participant.id)
            return
        try:
            message = parse_channel_message(data)
        except ProtocolError as problem:
            log.warning("channel_message_invalid", peer_id=link.participant.id, code=problem.code)
            return
        if isinstance(message, Chat):
            self._events.put_nowait(TextReceived(link.participant, message.text[:MAX_CHAT_CHARS]))
        elif isinstance(message, LeaveRequest):
            log.info("leave_requested", peer_id=link.participant.id)
            self._events.put_nowait(LeaveRequested(link.participant))
        else:
            log.info("consent_answered", peer_id=link.participant.id, agreed=message.agreed)
            self._events.put_nowait(ConsentAnswered(link.participant, message.agreed))

    async def _offer(self, participant: Participant) -> None:
        link = self._link(participant)
        self._attach_channel(link, link.pc.createDataChannel("chat"))
        await link.pc.setLocalDescription(await link.pc.createOffer())
        await self._send({"type": "offer", "to": participant.id, "sdp": link.pc.localDescription.sdp})

    async def _answer(self, peer_id: str, sdp: str) -> None:
        link = self._links.get(peer_id)
        if link is None:
            participant = self._known.get(peer_id) or Participant(id=peer_id, display_name=peer_id)
            link = self._link(participant)
        await link.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await link.pc.setLocalDescription(await link.pc.createAnswer())
        await self._send({"type": "answer", "to": peer_id, "sdp": link.pc.localDescription.sdp})

    async def _add_candidate(self, peer_id: str, candidate: object) -> None:
        link = self._links.get(peer_id)
        if link is None or not isinstance(candidate, dict) or not candidate.get("candidate"):
            return
        parsed = candidate_from_sdp(str(candidate["candidate"]).removeprefix("candidate:"))
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await link.pc.addIceCandidate(parsed)

    async def _send(self, message: dict[str, object]) -> None:
        assert self._ws is not None
        try:
            await self._ws.send(encode(message))
        except ConnectionClosed:
            pass

    @staticmethod
    async def _close_link(link: _PeerLink) -> None:
        link.speaker.stop()
        await link.pc.close()
