"""CallConnector for a Janus VideoRoom (SFU) over aiortc.

The bot joins as a publisher (its voice: one SpeakerTrack, heard by everyone:
an SFU cannot speak to one participant alone) and holds one multistream
subscriber that takes the *audio* of every other publisher. Each participant's
audio reaches transcription through a RelayTrack chosen by Janus's mid → feed
map, so a recycled mid never mixes two speakers up.

Faults: the signalling socket is watched; when it drops (or Janus stops
answering keepalives) the connector reports ConnectionLost, rejoins with
bounded exponential backoff on a fresh Janus session, and reports
ConnectionRestored; past `janus.unreachable_limit_s` it ends the call.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bot.audio.outbound import Playback, SpeakerTrack
from bot.call.base import (
    AudioTrackReceived,
    CallEnded,
    CallEvent,
    CallJoinError,
    ConnectionLost,
    ConnectionRestored,
    Delivery,
    ParticipantJoined,
    ParticipantLeft,
    until_call_ended,
)
from bot.call.jitter import new_peer_connection
from bot.call.janus_identity import JanusIdentities
from bot.call.janus_protocol import (
    MAX_MESSAGE_BYTES,
    NO_SUCH_ROOM,
    SUBPROTOCOL,
    VIDEOROOM,
    JanusMessage,
    JanusMessageError,
    JanusUrl,
    Publisher,
    Transactions,
    feed_id,
    parse_message,
    publishers_in,
    subscribed_streams,
)
from bot.call.relay import RelayTrack
from bot.call.ssrc_routing import register_remote_ssrcs
from bot.config import ConfigError, JanusSettings
from bot.log import get_logger
from bot.secrets import secret_from_env_or_file
from bot.transcribe.segment import Participant

log = get_logger(__name__)

ROOM_PUBLISHERS = 10
# After Janus comes back, its participants need a moment to reconnect too (a browser retries on its
# own schedule): until then they stay present, so the session does not end as if everyone had left.
COMEBACK_GRACE_S = 30.0


class JanusRequestError(Exception):
    def __init__(self, what: str, code: int | None = None) -> None:
        super().__init__(what)
        self.code = code


_FAULTS = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, ConnectionError, JanusRequestError)


def read_secret(env: str, file: Path | None, key: str) -> str | None:
    """A PIN, secret or token from the environment or an owner-only file; never from code."""
    try:
        value = secret_from_env_or_file(env, file, f"janus.{key}")
    except ConfigError as exc:
        raise CallJoinError(f"{exc} (or set {env})") from None
    return (value.decode("utf-8").strip() or None) if value is not None else None


class JanusConnector:
    def __init__(
        self, url: JanusUrl, display_name: str, settings: JanusSettings, stun_servers: list[str] | None = None
    ) -> None:
        self.url = url
        self.display_name = display_name
        self.settings = settings
        self._stun = stun_servers or []
        self._pin = read_secret("SESSIONBOT_JANUS_PIN", settings.pin_file, "pin_file")
        self._secret = read_secret("SESSIONBOT_JANUS_SECRET", settings.secret_file, "secret_file")
        self._token = read_secret("SESSIONBOT_JANUS_TOKEN", settings.token_file, "token_file")
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._identities = JanusIdentities()
        self._present: dict[str, Participant] = {}
        self._relays: dict[str, RelayTrack] = {}
        self._left = False
        self._ended = False
        self._background: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._fatal: str | None = None  # the type of an unexpected error that ended the call
        self._playing: dict[int, tuple[SpeakerTrack, Playback]] = {}
        self.rooms_created = 0  # by janus.allow_create_room, counting re-creations after restarts
        self._reset_link()

    def _reset_link(self) -> None:
        """Everything that belongs to one Janus session (gone after a fault)."""
        self._ws: ClientConnection | None = None
        self._tx = Transactions()
        self._session_id: int | None = None
        self._publisher_handle: int | None = None
        self._subscriber_handle: int | None = None
        self._private_id: int | None = None
        self._publisher_pc: RTCPeerConnection | None = None
        self._subscriber_pc: RTCPeerConnection | None = None
        self._speaker: SpeakerTrack | None = None
        self._subscribe_lock = asyncio.Lock()
        self._subscribed: set[int] = set()  # feed ids
        self._mid_feed: dict[str, int] = {}  # active mids of the subscriber
        self._reader: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._identities.forget_feeds()

    # -- CallConnector -----------------------------------------------------

    async def join(self) -> list[Participant]:
        try:
            present = await self._establish()
        except CallJoinError:
            await self._drop_link()
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed (socket, Janus, SDP), the join did
            await self._drop_link()
            raise CallJoinError(self._explain(exc)) from exc
        self._supervisor = asyncio.create_task(self._supervise(), name="janus-supervisor")
        return present

    def events(self) -> AsyncIterator[CallEvent]:
        return until_call_ended(self._events)

    async def speak(self, samples: np.ndarray, rate: int, to: set[str] | None = None) -> Delivery:
        # `to` cannot be honoured on an SFU: the bot publishes one stream that everyone hears.
        # So the same speech asked for several participants at once is played once, not once each,
        # but only while it has not started: whoever asks once it is playing would hear just its tail.
        speaker = self._speaker
        if speaker is None or speaker.readyState != "live":
            return Delivery(total_s=samples.size / rate)
        key = id(samples)
        playing = self._playing.get(key)
        if playing is None or playing[0] is not speaker or playing[1].delivery.started_at is not None:
            playing = (speaker, speaker.play(samples, rate))
            self._playing[key] = playing
            playing[1].done.add_done_callback(lambda _, entry=playing: self._finished_playing(key, entry))
        return await asyncio.shield(playing[1].done)

    def stop_speaking(self) -> None:
        if self._speaker is not None:
            self._speaker.interrupt()

    def _finished_playing(self, key: int, entry: tuple[SpeakerTrack, Playback]) -> None:
        if self._playing.get(key) is entry:
            del self._playing[key]

    async def send_text(self, text: str, to: set[str] | None = None) -> bool:
        """The VideoRoom has no chat of its own: skipped (the spoken announcement still plays)."""
        return False

    async def ask_consent(self, text: str, to: set[str]) -> bool:
        """No data channel to the participants here, so no consent question (the spoken one still plays)."""
        return False

    async def leave(self) -> None:
        if self._left:
            return
        self._left = True
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
        if self._ws is not None and self._publisher_handle is not None:
            try:
                await asyncio.wait_for(self._request({"janus": "message", "body": {"request": "leave"}},
                                                     handle=self._publisher_handle), 2.0)
                await asyncio.wait_for(self._request({"janus": "destroy"}), 2.0)
            except (*_FAULTS, asyncio.CancelledError):
                pass
        await self._drop_link()
        for relay in self._relays.values():
            relay.stop()
        self._relays.clear()
        for task in list(self._background):
            task.cancel()
        self._end("left")
        log.info("call_left", platform="janus")

    # -- joining -------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.url.websocket.startswith("wss://"):
            return None
        context = ssl.create_default_context(cafile=str(self.settings.ca_file) if self.settings.ca_file else None)
        if not self.settings.tls_verify:
            log.warning("janus_tls_unverified")
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _explain(self, exc: BaseException) -> str:
        where = f"Janus at {self.url.websocket} (room {self.url.room})"
        if isinstance(exc, JanusRequestError):
            if exc.code == NO_SUCH_ROOM:
                return f"{where}: no such room. Fix: check the room number, or set janus.allow_create_room = true."
            return f"{where} refused: {exc}. Fix: check the room PIN/token (SESSIONBOT_JANUS_PIN, SESSIONBOT_JANUS_TOKEN)."
        return f"cannot reach {where} ({type(exc).__name__}). Fix: is Janus running with its websockets transport?"

    async def _establish(self) -> list[Participant]:
        started = time.monotonic()
        timeout = self.settings.request_timeout_s
        self._ws = await websockets.connect(
            self.url.websocket, subprotocols=[SUBPROTOCOL], ssl=self._ssl(),  # type: ignore[list-item]
            max_size=MAX_MESSAGE_BYTES, open_timeout=timeout,
        )
        self._reader = asyncio.create_task(self._read(self._ws), name="janus-signalling")
        created = await self._request({"janus": "create"})
        self._session_id = int((created.data or {})["id"])
        self._keepalive = asyncio.create_task(self._keep_alive(), name="janus-keepalive")
        self._publisher_handle = await self._attach()
        joined = await self._join_room()
        self._private_id = joined.plugin.get("private_id")
        await self._publish()
        publishers = publishers_in(joined.plugin)
        await self._subscribe(publishers)
        present = [p for p in self._present.values()]
        log.info("call_joined", platform="janus", participants=len(present),
                 elapsed_s=round(time.monotonic() - started, 3))
        return present

    async def _attach(self) -> int:
        reply = await self._request({"janus": "attach", "plugin": VIDEOROOM})
        return int((reply.data or {})["id"])

    async def _join_room(self) -> JanusMessage:
        body: dict[str, Any] = {"request": "join", "ptype": "publisher", "room": self.url.room,
                                "display": self.display_name}
        if self._pin:
            body["pin"] = self._pin
        try:
            return await self._message(self._publisher_handle, body)
        except JanusRequestError as exc:
            if exc.code != NO_SUCH_ROOM or not self.settings.allow_create_room:
                raise
        create: dict[str, Any] = {"request": "create", "room": self.url.room, "publishers": ROOM_PUBLISHERS,
                                  "audiocodec": "opus", "permanent": False}
        if self._secret:
            create["secret"] = self._secret
        if self._pin:
            create["pin"] = self._pin
        await self._message(self._publisher_handle, create)
        self.rooms_created += 1
        log.info("janus_room_created", room=self.url.room)
        return await self._message(self._publisher_handle, body)

    def _peer_connection(self, role: str) -> RTCPeerConnection:
        pc = new_peer_connection(self._stun)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            log.info("janus_media_state", role=role, state=pc.connectionState)

        return pc

    async def _publish(self) -> None:
        pc = self._peer_connection("publisher")
        self._publisher_pc = pc
        self._speaker = SpeakerTrack()
        pc.addTransceiver(self._speaker, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        reply = await self._message(self._publisher_handle, {"request": "publish"},
                                    jsep={"type": "offer", "sdp": pc.localDescription.sdp})
        if reply.jsep is None or reply.jsep.type != "answer":
            raise JanusRequestError("publish was not answered with an SDP answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.jsep.sdp, type="answer"))

    async def _subscribe(self, publishers: list[Publisher]) -> None:
        """Take the audio of publishers not yet subscribed; announce each new participant."""
        async with self._subscribe_lock:
            wanted = [(p, mid) for p in publishers if p.id not in self._subscribed for mid in p.audio_mids()]
            if not wanted or self._ws is None:
                return
            streams = [{"feed": p.id, "mid": mid} for p, mid in wanted]
            if self._subscriber_handle is None:
                self._subscriber_handle = await self._attach()
                self._subscriber_pc = self._subscriber_connection()
                reply = await self._message(self._subscriber_handle, {
                    "request": "join", "ptype": "subscriber", "room": self.url.room,
                    "private_id": self._private_id, "streams": streams, **({"pin": self._pin} if self._pin else {}),
                })
            else:
                reply = await self._message(self._subscriber_handle, {"request": "subscribe", "streams": streams})
            if reply.jsep is not None:
                await self._answer(reply)
            for publisher, _ in wanted:
                self._subscribed.add(publisher.id)
                self._arrived(publisher)

    def _subscriber_connection(self) -> RTCPeerConnection:
        pc = self._peer_connection("subscriber")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            mid = next((t.mid for t in pc.getTransceivers() if t.receiver.track is track), None)
            log.debug("janus_track", mid=mid, kind=track.kind)
            if track.kind == "audio" and mid is not None:
                self._spawn(self._pump(mid, track))

        return pc

    async def _answer(self, offer: JanusMessage) -> None:
        """Answer an offer from Janus on the subscriber handle (solicited or its own `updated`)."""
        pc = self._subscriber_pc
        if pc is None or offer.jsep is None or offer.jsep.type != "offer":
            return
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.jsep.sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        register_remote_ssrcs(pc)
        await self._message(self._subscriber_handle, {"request": "start"},
                            jsep={"type": "answer", "sdp": pc.localDescription.sdp})

    async def _answer_unsolicited(self, offer: JanusMessage) -> None:
        async with self._subscribe_lock:
            await self._answer(offer)

    # -- participants and media ------------------------------------------------

    def _arrived(self, publisher: Publisher) -> None:
        participant = self._identities.for_feed(publisher.id, publisher.display)
        if participant.id not in self._present:
            self._present[participant.id] = participant
            log.info("janus_participant", change="joined", participant_id=participant.id, feed=publisher.id)
            self._events.put_nowait(ParticipantJoined(participant))
        relay = self._relays.get(participant.id)
        if relay is None or relay.readyState != "live":
            relay = RelayTrack()
            self._relays[participant.id] = relay
            self._events.put_nowait(AudioTrackReceived(participant, relay))

    def _departed(self, feed: int) -> None:
        self._subscribed.discard(feed)
        for mid in [m for m, f in self._mid_feed.items() if f == feed]:
            del self._mid_feed[mid]
        participant = self._identities.release(feed)
        if participant is None or self._present.pop(participant.id, None) is None:
            return
        relay = self._relays.pop(participant.id, None)
        if relay is not None:
            relay.stop()
        log.info("janus_participant", change="left", participant_id=participant.id, feed=feed)
        self._events.put_nowait(ParticipantLeft(participant))

    async def _pump(self, mid: str, track: MediaStreamTrack) -> None:
        frames = 0
        try:
            while True:
                frame = await track.recv()
                frames += 1
                if frames == 1:
                    log.info("janus_audio_flowing", mid=mid)
                participant = self._identities.feed_of(self._mid_feed.get(mid))
                relay = self._relays.get(participant.id) if participant is not None else None
                if relay is not None:
                    relay.push(frame)  # type: ignore[arg-type]
        except MediaStreamError:
            return

    # -- signalling ----------------------------------------------------------------

    async def _request(self, message: dict[str, Any], handle: int | None = None, ack_is_reply: bool = False) -> JanusMessage:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected to Janus")
        transaction, reply = self._tx.open(ack_is_reply)
        message = {**message, "transaction": transaction}
        if self._session_id is not None and message["janus"] != "create":
            message["session_id"] = self._session_id
        if handle is not None:
            message["handle_id"] = handle
        if self._token:
            message["token"] = self._token
        await ws.send(json.dumps(message))
        try:
            answer = await asyncio.wait_for(reply, self.settings.request_timeout_s)
        except TimeoutError:
            self._tx.forget(transaction)
            raise
        if answer.janus == "error":
            code = answer.error.code if answer.error else None
            raise JanusRequestError(f"{message['janus']} failed: {answer.error.reason if answer.error else '?'}", code)
        return answer

    async def _message(self, handle: int | None, body: dict[str, Any], jsep: dict[str, str] | None = None) -> JanusMessage:
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        answer = await self._request(request, handle=handle)
        code = answer.plugin.get("error_code")
        if code is not None:
            raise JanusRequestError(f"{body.get('request')} refused: {answer.plugin.get('error', '')}",
                                    code if isinstance(code, int) else None)
        return answer

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self.on_raw_message(raw)
        except ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug here must end the call, not leave it silently deaf
            self._fatal = type(exc).__name__  # never str(exc): it may quote what Janus relayed
            log.error("janus_reader_failed", error=self._fatal)
        finally:
            self._tx.fail_all(ConnectionError("Janus signalling closed"))

    def on_raw_message(self, raw: str | bytes) -> None:
        """Handle one message from Janus; a malformed or unexpected one is logged and skipped."""
        try:
            message = parse_message(raw)
            self._observe(message)
            if not self._tx.resolve(message):
                self._unsolicited(message)
        except (JanusMessageError, ValueError, TypeError, KeyError) as exc:
            log.warning("signalling_message_invalid", platform="janus", error=type(exc).__name__)

    def _observe(self, message: JanusMessage) -> None:
        """State that every message may carry, whoever asked for it: the subscriber's stream map."""
        data = message.plugin
        if message.sender is None or message.sender != self._subscriber_handle or "streams" not in data:
            return
        for stream in subscribed_streams(data):
            if stream.active and stream.feed_id is not None and stream.type in ("audio", ""):
                self._mid_feed[stream.mid] = stream.feed_id
            else:
                self._mid_feed.pop(stream.mid, None)
        log.debug("janus_stream_map", mids=sorted(self._mid_feed), feeds=len(set(self._mid_feed.values())))

    def _unsolicited(self, message: JanusMessage) -> None:
        kind = message.janus
        if kind == "timeout":
            log.warning("janus_session_timeout")
            self._spawn(self._drop_socket())
            return
        if kind in ("ack", "success"):
            return  # the late ack of a request whose reply came first
        if kind in ("webrtcup", "media", "slowlink", "hangup", "detached", "trickle"):
            log.info("janus_event", janus=kind, reason=str((message.model_extra or {}).get("reason", ""))[:40])
            return
        if kind != "event":
            raise JanusMessageError(f"unexpected janus message {kind!r}")
        data = message.plugin
        if message.sender == self._subscriber_handle and message.jsep is not None:
            self._spawn(self._answer_unsolicited(message))
        if message.sender != self._publisher_handle:
            return
        if "publishers" in data:
            self._spawn(self._subscribe(publishers_in(data)))
        for key in ("unpublished", "leaving"):
            feed = feed_id(data.get(key))
            if feed is not None:
                self._departed(feed)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.settings.keepalive_s)
            try:
                await self._request({"janus": "keepalive"}, ack_is_reply=True)
            except TimeoutError:
                log.warning("janus_keepalive_unanswered")
                await self._drop_socket()
                return
            except _FAULTS:
                return

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(self._guarded(coroutine))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guarded(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except _FAULTS as exc:
            # A fault of the link: the supervisor notices the socket and rejoins.
            log.warning("janus_request_failed", error=type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - one bad exchange must not end the call
            log.error("janus_handler_failed", error=type(exc).__name__)

    # -- faults --------------------------------------------------------------------

    async def _drop_socket(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def _drop_link(self) -> None:
        for task in (self._keepalive, self._reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._speaker is not None:
            self._speaker.stop()
        for pc in (self._publisher_pc, self._subscriber_pc):
            if pc is not None:
                await pc.close()
        self._tx.fail_all(ConnectionError("Janus link dropped"))
        self._reset_link()

    async def _supervise(self) -> None:
        try:
            await self._watch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever broke, the session must hear that the call ended
            log.error("janus_supervisor_failed", error=type(exc).__name__)
            self._end(type(exc).__name__)

    async def _watch(self) -> None:
        while not self._left:
            assert self._reader is not None
            await asyncio.gather(self._reader, return_exceptions=True)
            if self._left:
                return
            if self._fatal is not None:
                self._end(self._fatal)
                return
            lost_at = time.monotonic()
            log.warning("janus_connection_lost", room=self.url.room)
            self._events.put_nowait(ConnectionLost("Janus signalling closed"))
            await self._drop_link()
            if not await self._rejoin(lost_at):
                return
            downtime = time.monotonic() - lost_at
            log.info("janus_connection_restored", downtime_s=round(downtime, 3))
            self._events.put_nowait(ConnectionRestored(downtime))

    async def _rejoin(self, lost_at: float) -> bool:
        delay = self.settings.reconnect_initial_s
        limit = self.settings.unreachable_limit_s
        attempt = 0
        stale = set(self._present)
        while not self._left:
            remaining = limit - (time.monotonic() - lost_at)
            if remaining <= 0:
                log.error("janus_unreachable", limit_s=limit, attempts=attempt)
                for pid in list(self._present):
                    self._leave_participant(pid)
                self._end(f"Janus unreachable for more than {limit:g} s")
                self._left = True
                return False
            await asyncio.sleep(min(delay, remaining))
            attempt += 1
            try:
                await self._establish()
            except Exception as exc:  # noqa: BLE001 - any failed attempt is retried until the limit
                log.info("janus_rejoin_failed", attempt=attempt, error=type(exc).__name__)
                await self._drop_link()
                delay = min(delay * 2, self.settings.reconnect_max_s)
                continue
            self._spawn(self._expire(stale))
            return True
        return False

    async def _expire(self, stale: set[str]) -> None:
        """Whoever has not published again in the new Janus session by now has left (and may still come back)."""
        await asyncio.sleep(COMEBACK_GRACE_S)
        if self._ws is None or self._left:
            return  # down again: the next rejoin starts its own grace
        for pid in stale - {p.id for p in self._present_now()}:
            self._leave_participant(pid)

    def _present_now(self) -> list[Participant]:
        return [p for p in (self._identities.feed_of(f) for f in self._subscribed) if p is not None]

    def _leave_participant(self, participant_id: str) -> None:
        participant = self._present.pop(participant_id, None)
        relay = self._relays.pop(participant_id, None)
        if relay is not None:
            relay.stop()
        if participant is not None:
            self._events.put_nowait(ParticipantLeft(participant))

    def _end(self, reason: str) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(CallEnded(reason))
