"""`sessionbot check-objection`: exactly the in-call objection detector, on a text or a recording.

For audio, the recording goes through the same per-participant pipeline as a
call (20 ms chunks → webrtcvad → shared faster-whisper engine → transcript
buffer) and every final segment through the same ConsentGuard.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

import numpy as np

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.config import Settings
from bot.consent.guard import ConsentGuard
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant, Segment
from bot.transcribe.stream import ParticipantStream

CHUNK = ASR_RATE // 50  # 20 ms, as WebRTC delivers audio
SPEAKER = Participant("checked", "participant", None)


@dataclass
class CheckResult:
    objection: bool
    language: str
    heard: str
    decision_s: float | None  # audio: end of the objecting speech → decision; text: matching time
    rule: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def check_text(guard: ConsentGuard, text: str) -> CheckResult:
    started = time.perf_counter()
    event = guard.on_text(SPEAKER, text)
    elapsed = time.perf_counter() - started
    if event is None:
        return CheckResult(False, guard.language, text, round(elapsed, 6))
    return CheckResult(True, event.language, text, round(elapsed, 6), event.rule)


async def check_audio(
    guard: ConsentGuard, engine: TranscriptionEngine, settings: Settings, samples: np.ndarray, rate: int
) -> CheckResult:
    audio = resample_pcm(samples, rate, ASR_RATE)
    buffer = TranscriptBuffer("check")
    prompt = guard.asr_prompt if settings.transcription.consent_prompt else None
    stream = ParticipantStream(SPEAKER, engine, buffer, settings.vad, guard.language, time.monotonic, prompt,
                               on_unsure=lambda *args: on_unsure(*args))
    found: list[CheckResult] = []

    def on_segment(segment: Segment) -> None:
        event = guard.on_speech(SPEAKER, segment.text, segment.language, segment.end)
        if event is not None and not found:
            found.append(CheckResult(True, event.language, segment.text, round(stream.latencies_s[-1], 3), event.rule))

    def on_unsure(_who: Participant, text: str, language: str, _start: float, end: float) -> None:
        event = guard.on_speech(SPEAKER, text, language, end)
        if event is not None and not found:
            found.append(CheckResult(True, event.language, text, round(stream.latencies_s[-1], 3), event.rule))

    buffer.subscribe(on_segment)
    # Trailing silence lets the VAD close the last utterance the way a pause would in a call.
    tail = np.zeros(ASR_RATE * (settings.vad.hangover_ms + 100) // 1000, dtype=np.int16)
    audio = np.concatenate([audio, tail])
    for start in range(0, audio.size, CHUNK):
        stream.push_pcm(audio[start : start + CHUNK])
        await asyncio.sleep(0)  # let a closed utterance start decoding now, as in a call
    await stream.finish()
    heard = " ".join(s.text for s in buffer.segments())
    if found:
        result = found[0]
        result.heard = heard
        return result
    return CheckResult(False, guard.language, heard, None)
