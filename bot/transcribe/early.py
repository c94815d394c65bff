"""Early finals: an utterance decoded during the hang-over that may end it.

Most of the wait between the end of someone's speech and its text was the VAD's hang-over (the
silence that proves the utterance is over). When a pause has lasted `vad.early_final_ms`, the
stream decodes the utterance so far on an idle worker; if the hang-over then closes exactly that
utterance (same samples: the segmenter trims the trailing silence alike), the decode is claimed as
the final. If speech resumes, or the stream ends or is discarded, the decode is dropped and counted
as wasted (`sessionbot_transcription_early_finals`).
"""

from __future__ import annotations

import asyncio

from bot import metrics
from bot.audio.vad import Utterance
from bot.transcribe.decoder import Outcome

EarlyDecode = asyncio.Task[Outcome | None]  # None: it never ran (no idle worker by the time it started)


class EarlyFinals:
    """One stream's early decode, at most one at a time, and how many were used or wasted."""

    def __init__(self) -> None:
        self._pending: tuple[Utterance, EarlyDecode] | None = None
        self.used = 0
        self.wasted = 0

    def begin(self, utterance: Utterance, decode: EarlyDecode) -> None:
        self.drop()
        self._pending = (utterance, decode)

    def claim(self, utterance: Utterance) -> EarlyDecode | None:
        """The early decode of exactly this closed utterance, if there is one; any other is dropped."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if not pending[0].same_speech(utterance):
            self._waste(pending[1])
            return None
        return pending[1]

    def drop(self) -> None:
        if self._pending is not None:
            self._waste(self._pending[1])
            self._pending = None

    async def outcome(self, decode: EarlyDecode) -> Outcome | None:
        """The claimed decode's outcome, or None when it did not run or complete (decode the final anew)."""
        await asyncio.wait([decode])
        if decode.cancelled() or decode.exception() is not None or decode.result() is None:
            return None
        self.used += 1
        metrics.early_final("used")
        return decode.result()

    def _waste(self, decode: EarlyDecode) -> None:
        self.wasted += 1
        metrics.early_final("wasted")
        decode.cancel()  # still queued: never decoded; decoding: its result is ignored
