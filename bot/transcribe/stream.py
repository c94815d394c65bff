"""One participant's audio → VAD utterances → shared engine → the session's final sink.

Finals: every closed utterance is transcribed once and handed to `on_final`,
which is the session's consent stage: only what passes it is stored. An
utterance that could not be transcribed (queue full, decoder error) is reported
to `on_lost`, so the note can say that speech is missing instead of hiding it.
Partials (partials.py): captions and objection checks of the utterance still being
spoken, from a recent window of it, on idle workers only; shown and checked, never stored.
Early finals (early.py): a pause of `vad.early_final_ms` starts the decode of the
utterance so far on an idle worker, used as the final if the hang-over confirms it.
Context: finals and early finals carry this speaker's last kept utterances (audio and
text, in memory only, gone on discard) that fit with them in `transcription.context_s`,
so the decoder hears each sentence after the ones before it (recent.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot import metrics
from bot.audio.media_clock import MediaClock, waited_s
from bot.audio.pcm import ASR_RATE, Resampler
from bot.audio.vad import Utterance, VadSegmenter
from bot.config import TranscriptionSettings, VadSettings
from bot.log import get_logger
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.early import EarlyDecode, EarlyFinals
from bot.transcribe.engine import Outcome, QueueFull, TranscriptionEngine
from bot.transcribe.partials import PartialSchedule
from bot.transcribe.recent import RecentSpeech, Ticket
from bot.transcribe.scheduler import Kind
from bot.transcribe.segment import Participant

log = get_logger(__name__)
T = TypeVar("T")

PartialListener = Callable[[Participant, str, str, float, float], None]  # who, text, language, start, end
LostListener = Callable[[Participant, float, float, str], None]  # who, start, end, why
MissingListener = Callable[[Participant, float, float], None]  # who, start, end of audio that never arrived
SecondLook = Callable[[str, str], bool]  # (text, language): does this final deserve a careful second hearing?
# Loss shorter than this is part of a normal call (a few packets); longer means the participant's
# audio stopped reaching the bot, and the note says so.
AUDIO_MISSING_REPORT_S = 1.0


@dataclass(frozen=True)
class Heard:
    """A final utterance's text, not yet stored: the consent stage decides."""

    participant: Participant
    start: float  # session seconds
    end: float
    text: str
    language: str
    confidence: float
    cut: bool = False  # closed by the length limit, a gap in the audio or the end of the call, not a pause


# Returns whether the utterance was kept: only a kept utterance may be the next one's context, so
# speech the consent stage held back (before the announcement reached someone, while paused) never
# shapes what is written later.
FinalSink = Callable[[Heard], Awaitable[bool]]


def store_all(buffer: TranscriptBuffer) -> FinalSink:
    """A sink that keeps every final: for tools with no call and so no consent to apply
    (transcribing a file, benchmarks). A session's sink is its consent stage instead."""

    async def sink(heard: Heard) -> bool:
        buffer.append(heard.participant, heard.start, heard.end, heard.text, heard.language, heard.confidence)
        return True

    return sink


class ParticipantStream:
    def __init__(
        self,
        participant: Participant,
        engine: TranscriptionEngine,
        on_final: FinalSink,
        vad: VadSettings,
        language: str,
        session_clock: Callable[[], float],
        *,
        session_id: str,
        prompt: str | None = None,
        on_partial: PartialListener | None = None,
        on_unsure: PartialListener | None = None,
        on_lost: LostListener | None = None,
        on_missing: MissingListener | None = None,
        second_look: SecondLook | None = None,
    ) -> None:
        self.participant = participant
        self._engine = engine
        self._on_final = on_final
        self._on_lost = on_lost
        self._on_missing = on_missing
        self._second_look = second_look  # its text goes to on_unsure: checked, never kept
        # With an objection check attached, bursts under the VAD minimum are decoded for it too.
        self._segmenter = VadSegmenter(vad, keep_short=on_unsure is not None)
        self._resampler = Resampler(ASR_RATE)
        self._language = language  # "auto": detected from this participant's first utterance
        self._prompt = prompt or None
        self._clock = session_clock
        self._on_partial = on_partial
        self._on_unsure = on_unsure  # text the filters dropped: for objection checks only
        self._offset_s: float | None = None
        self._media_clock = MediaClock()
        self._pending: set[asyncio.Task[None]] = set()
        self._discarded = False
        self.early = EarlyFinals()
        self._stream_id = f"{session_id}/{participant.id}"
        self.utterances = 0
        self.latencies_s: list[float] = []
        self.latest_latency_s: float | None = None  # end of speech → the latest text handed on (draft or final)
        self.overflowed = 0
        settings: TranscriptionSettings = engine.settings
        self._partials = PartialSchedule(settings)
        self._recent = RecentSpeech(settings.context_s)

    @property
    def language(self) -> str:
        return self._language

    @property
    def missing_s(self) -> float:
        """Audio that never arrived (loss, relay drops, blackouts), counted as silence so far."""
        return self._media_clock.missing_s

    def push_frame(self, frame: av.AudioFrame) -> None:
        """A received frame, placed by its timestamp: audio missing before it is counted as silence."""
        arrived_s = self._clock() - waited_s(frame)
        missing = self._media_clock.missing_before(frame, arrived_s, self._position_s)
        if missing.seconds > 0 and self._offset_s is not None:
            start = self._position_s()
            self._push_silence(round(missing.seconds * ASR_RATE))
            # A new timeline (another sender after a reconnect) is the connection's gap, recorded there.
            report = not missing.timeline_broken and missing.seconds >= AUDIO_MISSING_REPORT_S
            if report and self._on_missing is not None and not self._discarded:
                self._on_missing(self.participant, start, start + missing.seconds)
        self.push_pcm(self._resampler(frame), arrived_s)

    def _position_s(self) -> float:
        """Where this stream stands on the session clock: first frame's time + audio counted since."""
        return (self._clock() if self._offset_s is None else self._offset_s) + self._segmenter.position_s

    def _push_silence(self, samples: int) -> None:
        if self._discarded:
            self._segmenter.skip(samples)
            return
        for utterance in self._segmenter.silence(samples):
            self._take(utterance, waited_s=0.0)  # closed by missing audio, not by a pause anyone sat through

    def push_pcm(self, samples: np.ndarray, arrived_s: float | None = None) -> None:
        """`arrived_s`: when these samples arrived, on the session clock (default: now)."""
        if self._offset_s is None:
            self._offset_s = (self._clock() if arrived_s is None else arrived_s) - self._segmenter.position_s
        if self._discarded:
            self._segmenter.skip(samples.size)
            return
        for utterance in self._segmenter.push(samples):
            self._take(utterance)
        self._maybe_partial()

    def _take(self, utterance: Utterance, waited_s: float | None = None) -> None:
        if utterance.provisional:
            self._decode_early(utterance)
            return
        self._partials.utterance_closed()
        self._submit(utterance, waited_s)

    def discard(self) -> None:
        """Objection: stop at once, drop what is in flight, append nothing more."""
        self._discarded = True
        self._recent.forget()
        self._segmenter.reset()
        self.early.drop()
        self._engine.cancel_stream(self._stream_id)
        for task in list(self._pending):
            task.cancel()

    async def consume(self, track: MediaStreamTrack) -> None:
        """Read a remote track until it ends."""
        try:
            while True:
                self.push_frame(await track.recv())
        except MediaStreamError:
            pass

    async def finish(self) -> None:
        """Close the open utterance (if any) and wait for every transcription."""
        last = None if self._discarded else self._segmenter.flush()
        if last is not None:
            self._submit(last)
        self.early.drop()
        await self.settled()

    async def settled(self) -> None:
        """Wait until every transcription in flight is done."""
        while self._pending:  # a final may start a second look while we wait
            await asyncio.gather(*self._pending, return_exceptions=True)

    # -- finals --------------------------------------------------------------------

    def _submit(self, utterance: Utterance, waited_s: float | None = None) -> None:
        self.utterances += 1
        # The VAD closes an utterance only after its hang-over of silence: that wait is
        # part of what a speaker experiences as latency, so it is counted.
        if waited_s is None:
            waited_s = max(0.0, self._segmenter.position_s - utterance.end_s)
        ticket = self._recent.open()
        self._track(self._transcribe(utterance, ticket, time.monotonic() - waited_s, self.early.claim(utterance)))

    def _decode_early(self, utterance: Utterance) -> None:
        """A pause long enough that it may end the utterance: decode it now, on spare compute only."""
        self.early.drop()
        if self._discarded or utterance.short or not self._engine.has_idle_worker():
            return
        speech_ended_at = time.monotonic() - max(0.0, self._segmenter.position_s - utterance.end_s)
        ticket = self._recent.upcoming  # if claimed, it is the final that closes with this ticket
        self.early.begin(utterance, self._track(self._hear_early(utterance, speech_ended_at, ticket)))

    async def _hear_early(self, utterance: Utterance, speech_ended_at: float, ticket: Ticket) -> Outcome | None:
        if not self._engine.has_idle_worker():  # checked again as it starts: finals came first meanwhile
            return None
        return await self._hear(utterance, speech_ended_at, ticket, kind="early")

    async def _hear(self, utterance: Utterance, speech_ended_at: float, ticket: Ticket,
                    kind: Kind = "final") -> Outcome:
        """Decode an utterance, heard after what was kept before `ticket`; text the recognizer doubts
        goes to the objection check meanwhile."""
        language = await self._language_of(utterance.samples)

        def unsure(text: str) -> None:
            # Text the recognizer doubts (a first pass about to be redone, or dropped by the filters):
            # never stored, but an objection in it must be honoured without waiting.
            self._unsure(text, language, utterance.start_s, utterance.end_s, speech_ended_at)

        return await self._engine.transcribe(
            utterance.samples, language, self._prompt, stream_id=self._stream_id, kind=kind,
            on_draft=unsure if self._on_unsure is not None else None,
            context=self._recent.context_for(utterance.samples, ticket),
        )

    def _track(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        task.add_done_callback(lambda done: done.cancelled() or done.exception())  # a wasted early decode's error is no news
        return task

    async def _language_of(self, samples: np.ndarray) -> str:
        if self._language == "auto":
            language, probability = await asyncio.to_thread(self._engine.detect_language, samples)
            self._language = language
            log.info("participant_language_detected", participant_id=self.participant.id, language=language,
                     probability=round(probability, 2))
        return self._language

    async def _transcribe(self, utterance: Utterance, ticket: Ticket, speech_ended_at: float,
                          early: EarlyDecode | None = None) -> None:
        try:
            await self._final(utterance, ticket, speech_ended_at, early)
        finally:
            self._recent.dropped(ticket)  # whatever did not keep or break the chain above: never text

    async def _final(self, utterance: Utterance, ticket: Ticket, speech_ended_at: float,
                     early: EarlyDecode | None) -> None:
        try:
            outcome = None if early is None else await self.early.outcome(early)
            if outcome is None:
                outcome = await self._hear(utterance, speech_ended_at, ticket)
        except QueueFull:
            self.overflowed += 1
            self._recent.not_kept(ticket)
            self._lost(utterance, "untranscribed (overload)")
            return
        except asyncio.CancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not end the session
            log.error("asr_failed", participant_id=self.participant.id, error=type(exc).__name__)
            self._recent.not_kept(ticket)
            self._lost(utterance, "untranscribed (recognizer error)")
            return
        # End of speech → final text (VAD hang-over + queueing + decoding).
        self.latencies_s.append(time.monotonic() - speech_ended_at)
        self.latest_latency_s = self.latencies_s[-1]
        result = outcome.recognized
        offset = self._offset_s or 0.0
        language = result.language if result is not None else self._language

        def unsure(text: str) -> None:
            self._unsure(text, language, utterance.start_s, utterance.end_s, speech_ended_at)

        if utterance.short:
            # Under the VAD minimum: an objection in it counts, nothing of it is kept or shown.
            text = result.text if result is not None else outcome.unsure_text
            if text:
                unsure(text)
            return
        if result is None and outcome.unsure_text:
            unsure(outcome.unsure_text)
        if result is None or self._discarded:
            return
        if self._second_look is not None and self._on_unsure is not None and self._second_look(result.text, result.language):
            self._track(self._look_again(utterance, result.language))
        kept = await self._on_final(Heard(
            self.participant, start=offset + utterance.start_s, end=offset + utterance.end_s,
            text=result.text, language=result.language, confidence=result.confidence, cut=utterance.cut,
        ))
        if kept and not self._discarded:
            self._recent.kept(ticket, utterance.samples, result.text)
        else:
            self._recent.not_kept(ticket)
        log.info(
            "segment_transcribed",
            participant_id=self.participant.id,
            audio_s=round(utterance.end_s - utterance.start_s, 2),
            chars=len(result.text),
            latency_s=round(self.latencies_s[-1], 3),
            fallback=result.fallback,
        )
        metrics.speech_to_text(self.latencies_s[-1])

    async def _look_again(self, utterance: Utterance, language: str) -> None:
        """A second, careful hearing of an utterance that named the assistant but matched no objection:
        a misheard word ("assistance", "the court in") can hide one. Checked, never stored."""
        log.info("second_look", participant_id=self.participant.id, audio_s=round(utterance.end_s - utterance.start_s, 2))
        try:
            outcome = await self._engine.transcribe(utterance.samples, language, self._prompt, stream_id=self._stream_id,
                                                    kind="final", careful=True)
        except (QueueFull, asyncio.CancelledError):
            return
        except Exception as exc:  # noqa: BLE001 - the first hearing stands
            log.error("asr_failed", participant_id=self.participant.id, error=type(exc).__name__, kind="second_look")
            return
        text = outcome.recognized.text if outcome.recognized is not None else outcome.unsure_text
        if text:
            self._unsure(text, language, utterance.start_s, utterance.end_s)

    def _unsure(self, text: str, language: str, start_s: float, end_s: float,
                speech_ended_at: float | None = None) -> None:
        """Hand doubted text to the objection check (never stored or shown). With `speech_ended_at`,
        the latency it is handed on with is set first: the check reads it."""
        if self._on_unsure is None or self._discarded:
            return
        if speech_ended_at is not None:
            self.latest_latency_s = time.monotonic() - speech_ended_at
        offset = self._offset_s or 0.0
        self._on_unsure(self.participant, text, language, offset + start_s, offset + end_s)

    def _lost(self, utterance: Utterance, reason: str) -> None:
        if self._on_lost is not None and not self._discarded:
            offset = self._offset_s or 0.0
            self._on_lost(self.participant, offset + utterance.start_s, offset + utterance.end_s, reason)

    # -- partials ------------------------------------------------------------------

    def _maybe_partial(self) -> None:
        # Checked on every 20 ms chunk: measure the open utterance without copying it.
        length_s = self._segmenter.open_s
        if self._on_partial is None or not self._partials.due(length_s):
            return
        if not self._engine.has_idle_worker():  # best effort: finals never wait on partials
            if self._partials.shed():
                self._engine.load.partial_shed()
            return
        current = self._segmenter.current()
        assert current is not None
        self._track(self._partial(*self._partials.start(*current, length_s)))

    async def _partial(self, samples: np.ndarray, start_s: float) -> None:
        try:
            language = await self._language_of(samples)
            outcome = await self._engine.transcribe(samples, language, self._prompt, stream_id=self._stream_id,
                                                    kind="partial")
            result = outcome.recognized
        except (QueueFull, asyncio.CancelledError):
            return
        except Exception as exc:  # noqa: BLE001
            log.error("asr_failed", participant_id=self.participant.id, error=type(exc).__name__, kind="partial")
            return
        finally:
            self._partials.finished()
        if result is None and outcome.unsure_text:  # a doubtful partial: not shown, but an objection in it counts
            self._unsure(outcome.unsure_text, language, start_s, start_s + samples.size / ASR_RATE)
        if result is not None and not self._discarded and self._on_partial is not None:
            offset = self._offset_s or 0.0
            self._on_partial(self.participant, result.text, result.language, offset + start_s,
                             offset + start_s + samples.size / ASR_RATE)
