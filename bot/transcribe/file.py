"""`sessionbot transcribe FILE`: a recording through exactly the in-call streaming pipeline.

The file is one participant: 20 ms chunks → webrtcvad segmenter → shared engine
(same window, batching, filters) → transcript buffer; `realtime` paces the
chunks like a live call, so latencies are those a caller would see.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from bot.audio.pcm import ASR_RATE
from bot.config import Settings
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant
from bot.transcribe.stream import ParticipantStream, store_all

CHUNK = ASR_RATE // 50  # 20 ms


@dataclass
class FileTranscript:
    language: str
    segments: list[dict[str, object]]
    partials: list[dict[str, object]] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    wall_s: float = 0.0

    def to_json(self, with_partials: bool = False) -> dict[str, object]:
        segments = self.segments + (self.partials if with_partials else [])
        return {"segments": sorted(segments, key=lambda s: (s["start"], not s["final"])), "language": self.language}


async def stream_pcm(stream: ParticipantStream, audio: np.ndarray, realtime: bool) -> None:
    started = time.monotonic()
    for index, start in enumerate(range(0, audio.size, CHUNK)):
        stream.push_pcm(audio[start : start + CHUNK])
        if realtime:
            delay = started + (index + 1) * CHUNK / ASR_RATE - time.monotonic()
            await asyncio.sleep(max(0.0, delay))
        else:
            await asyncio.sleep(0)  # let closed utterances start decoding, as in a call


async def feed_recording(stream: ParticipantStream, audio: np.ndarray, settings: Settings, realtime: bool) -> None:
    """A recording as one participant's call audio, ending in the pause that closes its last utterance."""
    tail = np.zeros(ASR_RATE * (settings.vad.hangover_ms + 100) // 1000, dtype=np.int16)
    await stream_pcm(stream, np.concatenate([audio, tail]), realtime)
    await stream.finish()


async def transcribe_pcm(
    engine: TranscriptionEngine, settings: Settings, audio: np.ndarray, language: str, realtime: bool = False,
    prompt: str | None = None,
) -> FileTranscript:
    buffer = TranscriptBuffer("file")
    started = time.monotonic()
    partials: list[dict[str, object]] = []

    def on_partial(_who: Participant, text: str, _language: str, start: float, end: float) -> None:
        partials.append({"start": round(start, 2), "end": round(end, 2), "text": text, "final": False})

    stream = ParticipantStream(
        Participant("file", "speaker"), engine, store_all(buffer), settings.vad, language,
        lambda: time.monotonic() - started, session_id=buffer.session_id, prompt=prompt, on_partial=on_partial,
    )
    await feed_recording(stream, audio, settings, realtime)
    segments = [
        {"start": s.start, "end": s.end, "text": s.text, "final": True} for s in buffer.segments()
    ]
    detected = buffer.segments()[0].language if len(buffer) else stream.language
    return FileTranscript(detected, segments, partials, stream.latencies_s, audio.size / ASR_RATE,
                          time.monotonic() - started)
