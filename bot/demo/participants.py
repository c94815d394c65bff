"""Two simulated participants (clinician and client) as real aiortc peers.

Run as its own process by the demo (`python -m bot.demo.participants LINK`), so
the bot's process holds only the bot. They join the room, wait for the bot's
announcement (measuring the audio they actually receive), then speak the
script with turn-taking pauses, and leave. Progress and measurements are
printed as JSON lines on stdout for the demo to show.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot.audio.pcm import Resampler, rms_dbfs
from bot.audio.tts import render_speech_async
from bot.call.base import AudioTrackReceived, CallEnded, ParticipantLeft
from bot.call.ice import use_host_addresses
from bot.call.room import RoomConnector
from bot.call.room_protocol import RoomUrl
from bot.demo.impair import OWNER, ImpairedNetwork, Impairment
from bot.demo.script import SCRIPTS, Script

VOICED_DBFS = -45.0
FRAME_S = 0.02
ANNOUNCEMENT_SILENCE_S = 1.5
ANNOUNCEMENT_TIMEOUT_S = 120.0
BOT_LEAVE_TIMEOUT_S = 30.0


def emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


@dataclass
class ReceivedAudioMeter:
    """What one participant heard from the bot: in memory, as numbers only."""

    frames: int = 0
    voiced_frames: int = 0
    voiced_energy: list[float] = field(default_factory=list)
    last_voiced_at: float | None = None
    voiced_since_mark: int = 0

    def add(self, samples: np.ndarray) -> None:
        self.frames += 1
        level = rms_dbfs(samples)
        if level > VOICED_DBFS:
            self.voiced_frames += 1
            self.voiced_since_mark += 1
            self.voiced_energy.append(level)
            self.last_voiced_at = time.monotonic()

    def mark(self) -> None:
        """Start counting again, e.g. after the last scripted line (to hear an acknowledgement)."""
        self.voiced_since_mark = 0

    @property
    def voiced_s(self) -> float:
        return self.voiced_frames * FRAME_S

    def finished_speaking(self) -> bool:
        return (
            self.voiced_s >= 2.0
            and self.last_voiced_at is not None
            and time.monotonic() - self.last_voiced_at >= ANNOUNCEMENT_SILENCE_S
        )

    def summary(self) -> dict[str, float]:
        return {
            "received_s": round(self.frames * FRAME_S, 2),
            "voiced_s": round(self.voiced_s, 2),
            "mean_voiced_dbfs": round(float(np.mean(self.voiced_energy)), 1) if self.voiced_energy else -120.0,
        }


class SimulatedParticipant:
    def __init__(self, url: RoomUrl, display_name: str, role: str) -> None:
        self.connector = RoomConnector(url, display_name, role=role)
        self.display_name = display_name
        self.role = role
        self.heard_bot = ReceivedAudioMeter()
        self.bot_left = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def join(self) -> None:
        await self.connector.join()
        self._tasks.append(asyncio.create_task(self._pump()))

    async def _pump(self) -> None:
        async for event in self.connector.events():
            if isinstance(event, AudioTrackReceived):
                from_bot = event.participant.role == "bot"
                self._tasks.append(asyncio.create_task(self._drain(event.track, from_bot)))
            elif isinstance(event, ParticipantLeft) and event.participant.role == "bot":
                self.bot_left.set()
            elif isinstance(event, CallEnded):
                return

    async def _drain(self, track: MediaStreamTrack, from_bot: bool) -> None:
        # Every received track is read (an unread track queues frames without bound);
        # only the bot's is measured.
        resample = Resampler(16_000)
        try:
            while True:
                frame = await track.recv()
                if from_bot:
                    self.heard_bot.add(resample(frame))
        except MediaStreamError:
            pass

    async def leave(self) -> None:
        await self.connector.leave()
        for task in self._tasks:
            task.cancel()


BLACKOUT_AFTER_S = 1.0  # into the client's longest line, so the outage cuts speech, not a pause


async def run(url: RoomUrl, script: Script, clinician_url: RoomUrl | None = None,
              network: ImpairedNetwork | None = None) -> int:
    """`url` is the participants' link; the simulated clinician joins with `clinician_url` (its private link)."""

    def link_for(role: str) -> RoomUrl:
        return clinician_url if role == "clinician" and clinician_url is not None else url

    people = {v.role: SimulatedParticipant(link_for(v.role), v.display_name, v.role) for v in script.voices}
    speech = {}
    for index, line in enumerate(script.lines):
        voice = script.voice(line.role)
        speech[index] = await render_speech_async(line.text, voice.espeak_voice, voice.words_per_minute, voice.pitch)
    for person in people.values():
        owner = OWNER.set(person.display_name)
        try:
            await person.join()
        finally:
            OWNER.reset(owner)
        emit("joined", name=person.display_name, role=person.role)
    blackout_line = None
    if network is not None and network.impairment.blackout_s > 0:
        client_lines = [i for i, line in enumerate(script.lines) if line.role == "client"]
        blackout_line = max(client_lines, key=lambda i: speech[i][0].size / speech[i][1])

    deadline = time.monotonic() + ANNOUNCEMENT_TIMEOUT_S
    while not all(p.heard_bot.finished_speaking() for p in people.values()):
        if time.monotonic() > deadline:
            emit("error", message="no announcement heard from the bot in time")
            break
        await asyncio.sleep(0.1)
    for person in people.values():
        emit("announcement_heard", name=person.display_name, **person.heard_bot.summary())

    for index, line in enumerate(script.lines):
        samples, rate = speech[index]
        speaker = people[line.role]
        emit("line_started", index=index, name=speaker.display_name, role=line.role)
        if network is not None and index == blackout_line:
            seconds = network.impairment.blackout_s
            asyncio.get_running_loop().call_later(BLACKOUT_AFTER_S, network.black_out, speaker.display_name, seconds)
            emit("blackout", index=index, name=speaker.display_name, after_s=BLACKOUT_AFTER_S, seconds=seconds)
        await speaker.connector.speak(samples, rate)
        emit("line_spoken", index=index, audio_s=round(samples.size / rate, 2))
        await asyncio.sleep(script.pause_s)

    if script.expect_bot_to_leave:
        for person in people.values():
            person.heard_bot.mark()
        try:
            await asyncio.wait_for(asyncio.gather(*(p.bot_left.wait() for p in people.values())), BOT_LEAVE_TIMEOUT_S)
            emit("bot_left", heard_after_last_line={p.display_name: round(p.heard_bot.voiced_since_mark * FRAME_S, 2)
                                                    for p in people.values()})
        except TimeoutError:
            emit("error", message="the bot did not leave after the objection")
    await asyncio.sleep(1.0)
    for person in people.values():
        await person.leave()
    emit("left", heard={p.role: p.heard_bot.summary() for p in people.values()})
    if network is not None:
        emit("network", **network.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("link", help="room link with token, as printed by `sessionbot room`")
    parser.add_argument("--clinician-link", help="the clinician's private link (needed by the clinician's role)")
    parser.add_argument("--script", default="en", choices=sorted(SCRIPTS))
    parser.add_argument("--ice-host", action="append", default=[], help="ICE host address (repeatable)")
    parser.add_argument("--impair", default="", help="simulated network faults, e.g. loss=5%%,jitter=80ms,blackout=3s")
    args = parser.parse_args(argv)
    if args.ice_host:
        use_host_addresses(args.ice_host)
    impairment = Impairment.parse(args.impair)
    network = ImpairedNetwork(impairment) if impairment.active else None
    if network is not None:
        network.install()
    clinician = RoomUrl.parse(args.clinician_link) if args.clinician_link else None
    return asyncio.run(run(RoomUrl.parse(args.link), SCRIPTS[args.script], clinician, network))


if __name__ == "__main__":
    sys.exit(main())
