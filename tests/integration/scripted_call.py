"""A scripted call, for orderings a real call cannot be made to produce on cue.

`ScriptedConnector` is a fake CallConnector (named so wherever it is used):
the test decides exactly when participants join, leave, type, press the
leave button, lose the connection or come back. Everything else is real: each
participant's voice is espeak-ng speech played through a `Microphone` track
paced in real time into the session's real stream, VAD and faster-whisper;
the bot's own speech goes out through a real `SpeakerTrack` read at
real-time pace, so what the audit says was played is what was sent.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aiortc.mediastreams import MediaStreamError

from bot.audio.outbound import SAMPLES_PER_FRAME, PacedAudioTrack, SpeakerTrack
from bot.audio.pcm import WEBRTC_RATE, resample_pcm
from bot.audio.tts import render_speech
from bot.call.base import (
    AudioTrackReceived,
    CallEnded,
    CallEvent,
    ConnectionLost,
    ConnectionRestored,
    ConsentAnswered,
    Delivery,
    LeaveRequested,
    ParticipantJoined,
    ParticipantLeft,
    TextReceived,
    until_call_ended,
)
from bot.config import DEFAULT_ANNOUNCEMENTS_DIR
from bot.transcribe.segment import Participant

SHORT = {  # ~3 s announcements, so a test reaches "listening" quickly
    "announcement": "Hello, I am {name}, an AI assistant, transcribing this session for notes.",
    "late_joiner": "Hello, {name}, an AI assistant, is transcribing this session for notes.",
}


def short_announcements(directory: Path) -> Path:
    """A copy of the English announcements with short spoken texts (rules and examples unchanged)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = (DEFAULT_ANNOUNCEMENTS_DIR / "en.toml").read_text(encoding="utf-8")
    head, rest = text.split("[spoken]", 1)
    spoken, tail = rest.split("[text]", 1)
    lines = [f'{kind} = "{sentence}"' for kind, sentence in SHORT.items()]
    lines += [line for line in spoken.splitlines() if line.startswith(("acknowledgement =", "ask_unsure ="))]
    (directory / "en.toml").write_text(head + "[spoken]\n" + "\n".join(lines) + "\n\n[text]" + tail, encoding="utf-8")
    examples = directory / "examples"
    if not examples.exists():
        shutil.copytree(DEFAULT_ANNOUNCEMENTS_DIR / "examples", examples)
    return directory


@dataclass
class _Spoken:
    start: int  # the sample (from the track's start) at which it was said
    samples: np.ndarray  # 48 kHz
    done: asyncio.Future[None]


class Microphone(PacedAudioTrack):
    """A participant's microphone: what is said starts at the moment it is said, on the track's own
    real-time clock, however late the call reads it, as a remote sender's audio does. (A track that
    handed speech to whichever frame was read next would move it later when a loaded machine reads
    late, and the session would rightly judge it to have begun before the announcement ended.)"""

    def __init__(self) -> None:
        super().__init__()
        self._spoken: list[_Spoken] = []

    def say(self, samples: np.ndarray, rate: int) -> asyncio.Future[None]:
        """Resolves once the last of it has been read by the call."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.readyState != "live":
            done.set_result(None)
            return done
        now = 0 if self._start is None else int((time.monotonic() - self._start) * WEBRTC_RATE)
        after = max((s.start + s.samples.size for s in self._spoken), default=0)  # one sentence after another
        self._spoken.append(_Spoken(max(now, after), resample_pcm(samples, rate, WEBRTC_RATE), done))
        return done

    def _next_chunk(self) -> np.ndarray:
        chunk = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
        for spoken in list(self._spoken):
            lo, hi = max(self._pts, spoken.start), min(self._pts + SAMPLES_PER_FRAME, spoken.start + spoken.samples.size)
            if lo < hi:
                chunk[lo - self._pts : hi - self._pts] = spoken.samples[lo - spoken.start : hi - spoken.start]
            if spoken.start + spoken.samples.size <= self._pts + SAMPLES_PER_FRAME:
                self._spoken.remove(spoken)
                if not spoken.done.done():
                    spoken.done.set_result(None)
        return chunk

    def stop(self) -> None:
        for spoken in self._spoken:
            if not spoken.done.done():
                spoken.done.set_result(None)
        self._spoken.clear()
        super().stop()


class ScriptedConnector:
    """Fake connector (see the module docstring): scripted events, real audio paths."""

    def __init__(self) -> None:
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.speaker = SpeakerTrack()
        self.mouths: dict[str, Microphone] = {}
        self.people: dict[str, Participant] = {}
        self.chat: list[str] = []
        self.asked: list[set[str]] = []
        self.left = False
        self._listener: asyncio.Task[None] | None = None

    # -- CallConnector -------------------------------------------------------

    async def join(self) -> list[Participant]:
        self._listener = asyncio.ensure_future(self._listen())
        return []

    def events(self) -> AsyncIterator[CallEvent]:
        return until_call_ended(self._events)

    async def speak(self, samples: np.ndarray, rate: int, to: set[str] | None = None) -> Delivery:
        return await self.speaker.play(samples, rate).done

    def stop_speaking(self) -> None:
        self.speaker.interrupt()

    async def send_text(self, text: str, to: set[str] | None = None) -> bool:
        self.chat.append(text)
        return True

    async def ask_consent(self, text: str, to: set[str]) -> bool:
        self.asked.append(set(to))
        return True

    async def leave(self) -> None:
        if self.left:
            return
        self.left = True
        self.speaker.stop()
        for mouth in self.mouths.values():
            mouth.stop()
        await self._events.put(CallEnded("left"))

    async def _listen(self) -> None:
        """Whoever is in the call pulls the bot's audio at real-time pace."""
        try:
            while True:
                await self.speaker.recv()
        except MediaStreamError:
            return

    # -- the script ----------------------------------------------------------

    def add(self, pid: str, name: str, role: str = "client") -> Participant:
        participant = Participant(pid, name, role)
        self.people[pid] = participant
        self._events.put_nowait(ParticipantJoined(participant))
        self.connect_audio(pid)
        return participant

    def connect_audio(self, pid: str) -> None:
        """A (new) audio track for this participant, as after joining or a reconnect."""
        mouth = Microphone()
        self.mouths[pid] = mouth
        self._events.put_nowait(AudioTrackReceived(self.people[pid], mouth))

    async def say(self, pid: str, text: str) -> None:
        """Speak, and return once the last of it has been sent into the call."""
        samples, rate = render_speech(text, "en-us", 150)
        await self.mouths[pid].say(samples, rate)

    def type(self, pid: str, text: str) -> None:
        self._events.put_nowait(TextReceived(self.people[pid], text))

    def press_leave(self, pid: str) -> None:
        self._events.put_nowait(LeaveRequested(self.people[pid]))

    def answer(self, pid: str, agreed: bool) -> None:
        self._events.put_nowait(ConsentAnswered(self.people[pid], agreed))

    def leaves(self, pid: str) -> None:
        self.mouths[pid].stop()
        self._events.put_nowait(ParticipantLeft(self.people[pid]))

    def lose_connection(self) -> None:
        self._events.put_nowait(ConnectionLost("scripted SFU restart"))

    def restore_connection(self, downtime_s: float) -> None:
        self._events.put_nowait(ConnectionRestored(downtime_s))
