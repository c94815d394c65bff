"""`sessionbot check-objection`: exactly the in-call objection detector, on a text or a recording.

For audio, the recording goes through the same per-participant pipeline as a
call (20 ms chunks → webrtcvad → shared faster-whisper engine → transcript
buffer) and every final segment through the same ConsentGuard.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.config import Settings
from bot.consent.guard import ConsentGuard
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.file import feed_recording
from bot.transcribe.segment import Participant
from bot.transcribe.stream import ParticipantStream, store_all

SPEAKER = Participant("checked", "participant", None)
CLINICIAN = Participant("clinician", "clinician", "clinician")
JUST_AFTER_S = 2.0  # the checked text comes this long after its context


@dataclass
class CheckResult:
    objection: bool
    language: str
    heard: str
    decision_s: float | None  # audio: end of the objecting speech → decision; text: matching time
    rule: str | None = None
    would_ask: bool = False  # not an objection, but a call would ask the speaker (consent.ask_when_unsure)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def check_text(guard: ConsentGuard, text: str, context: str = "none") -> CheckResult:
    """`context`: "announcement" (the assistant has just announced itself), "question" (the clinician has
    just asked about the assistant) or "none"."""
    if context == "announcement":
        guard.context.bot_speaking(0.0, 0.0)
    elif context == "question":
        guard.context.question_asked(CLINICIAN, 0.0)
    started = time.perf_counter()
    event = guard.on_text(SPEAKER, text, JUST_AFTER_S if context != "none" else None)
    elapsed = time.perf_counter() - started
    if event is None or event.action != "objection":
        return CheckResult(False, guard.language, text, round(elapsed, 6),
                           would_ask=event is not None and event.action == "ask")
    return CheckResult(True, event.language, text, round(elapsed, 6), event.rule)


async def check_audio(
    guard: ConsentGuard, engine: TranscriptionEngine, settings: Settings, samples: np.ndarray, rate: int
) -> CheckResult:
    audio = resample_pcm(samples, rate, ASR_RATE)
    buffer = TranscriptBuffer("check")
    prompt = guard.asr_prompt if settings.transcription.consent_prompt else None
    found: list[CheckResult] = []
    asked: list[str | None] = []  # finals a call would have asked about (their rule)

    def check(text: str, language: str, end: float, complete: bool = True) -> None:
        event = guard.on_speech(SPEAKER, text, language, end, complete)
        if event is not None and event.action == "ask":
            asked.append(event.rule)
        if event is not None and event.action == "objection" and not found:
            latency = None if stream.latest_latency_s is None else round(stream.latest_latency_s, 3)
            found.append(CheckResult(True, event.language, text, latency, event.rule))

    # Final segments, and text the confidence filters dropped, go through the same check as in a call.
    stream = ParticipantStream(
        SPEAKER, engine, store_all(buffer), settings.vad, guard.language, time.monotonic,
        session_id=buffer.session_id, prompt=prompt, on_unsure=lambda _who, text, language, _start, end: check(text, language, end, complete=False),
        second_look=guard.deserves_second_look,
    )
    buffer.subscribe(lambda segment: check(segment.text, segment.language, segment.end))
    await feed_recording(stream, audio, settings, realtime=False)
    heard = " ".join(s.text for s in buffer.segments())
    if found:
        result = found[0]
        result.heard = heard
        return result
    return CheckResult(False, guard.language, heard, None, would_ask=bool(asked))
