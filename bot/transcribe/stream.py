"""One participant's audio → VAD utterances → shared engine → transcript buffer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot.audio.pcm import ASR_RATE, Resampler
from bot.audio.vad import Utterance, VadSegmenter
from bot.config import VadSettings
from bot.log import get_logger
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant

log = get_logger(__name__)


class ParticipantStream:
    def __init__(
        self,
        participant: Participant,
        engine: TranscriptionEngine,
        buffer: TranscriptBuffer,
        vad: VadSettings,
        language: str,
        session_clock: Callable[[], float],
    ) -> None:
        self.participant = participant
        self._engine = engine
        self._buffer = buffer
        self._segmenter = VadSegmenter(vad)
        self._resampler = Resampler(ASR_RATE)
        self._language = language
        self._clock = session_clock
        self._offset_s: float | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.utterances = 0
        self.latencies_s: list[float] = []

    def push_frame(self, frame: av.AudioFrame) -> None:
        self.push_pcm(self._resampler(frame))

    def push_pcm(self, samples: np.ndarray) -> None:
        if self._offset_s is None:
            self._offset_s = self._clock()
        for utterance in self._segmenter.push(samples):
            self._submit(utterance)

    async def consume(self, track: MediaStreamTrack) -> None:
        """Read a remote track until it ends."""
        try:
            while True:
                self.push_frame(await track.recv())
        except MediaStreamError:
            pass

    async def finish(self) -> None:
        """Close the open utterance (if any) and wait for every transcription."""
        last = self._segmenter.flush()
        if last is not None:
            self._submit(last)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _submit(self, utterance: Utterance) -> None:
        self.utterances += 1
        task = asyncio.ensure_future(self._transcribe(utterance, time.monotonic()))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _transcribe(self, utterance: Utterance, closed_at: float) -> None:
        try:
            result = await self._engine.transcribe(utterance.samples, self._language)
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not end the session
            log.error("asr_failed", participant_id=self.participant.id, error=type(exc).__name__)
            return
        self.latencies_s.append(time.monotonic() - closed_at)
        if result is None:
            return
        offset = self._offset_s or 0.0
        self._buffer.append(
            self.participant,
            start=offset + utterance.start_s,
            end=offset + utterance.end_s,
            text=result.text,
            language=result.language,
            confidence=result.confidence,
        )
        log.info(
            "segment_transcribed",
            participant_id=self.participant.id,
            audio_s=round(utterance.end_s - utterance.start_s, 2),
            chars=len(result.text),
            latency_s=round(self.latencies_s[-1], 3),
        )
