"""How the shared speech model degrades as load rises, one step at a time, never silently.

1. normal: finals are decoded with the configured beam (`transcription.beam_size`), and partials
   (captions, objections inside long turns) run whenever a decoder worker is idle;
2. partials_shed: a partial was due but every worker was busy, so it was skipped (finals never wait
   for partials);
3. greedy: `transcription.greedy_when_waiting` finals or more are waiting, or another decoder is
   at work (a beam there would hold the next final back), so the next batch of finals is decoded
   the cheap way: greedily (beam 1) and each utterance alone, without the speaker's previous
   utterance as context (`transcription.context_s`, which about doubles a final's cost): less
   accurate, cheaper;
4. queueing: more finals are waiting than one batch takes; they wait their turn (and past
   `transcription.max_queue`, are refused and reported as untranscribed).

Each step is a metric (`sessionbot_transcription_load_level`, and counters of partials shed and of
finals decoded greedily) and a log event when the level changes, with counts only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum

from bot import metrics
from bot.log import get_logger

log = get_logger(__name__)

# A level is held this long after the load that raised it is gone, so that a load hovering at a
# threshold logs one change, not one per batch.
HOLD_S = 2.0
GREEDY_WHEN_BUSY = 1


class LoadLevel(IntEnum):
    NORMAL = 0
    PARTIALS_SHED = 1
    GREEDY = 2
    QUEUEING = 3


@dataclass(frozen=True)
class FinalsDecoding:
    beam_size: int
    context: bool  # hear each final after the speaker's previous utterance


class LoadPolicy:
    def __init__(self, beam_size: int, greedy_when_waiting: int, max_batch: int, context: bool = False) -> None:
        self.beam_size = beam_size
        self.context = context
        self.greedy_when_waiting = greedy_when_waiting
        self.max_batch = max_batch
        self.level = LoadLevel.NORMAL
        self._raised_at = {level: float("-inf") for level in LoadLevel}
        self.partials_shed = 0
        self.finals_greedy = 0
        self.finals_with_beam = 0
        self.finals_in_context = 0
        self._pinned = False

    @contextmanager
    def pinned(self, beam_size: int, context: bool | None = None) -> Iterator[None]:
        """Every final at `beam_size` (and with or without context; default: as configured), whatever
        the load: for measuring a decoding (benchmarks play audio faster than real time, so finals wait
        and decoders are busy, and the cheap fallback would otherwise decide what is under test)."""
        configured = self.beam_size, self.context, self._pinned
        self.beam_size, self._pinned = beam_size, True
        self.context = self.context if context is None else context
        try:
            yield
        finally:
            self.beam_size, self.context, self._pinned = configured

    def partial_shed(self) -> None:
        self.partials_shed += 1
        metrics.partial_shed()
        self._observe(LoadLevel.PARTIALS_SHED)

    def for_finals(self, finals: int, finals_waiting: int, workers_busy: int = 0) -> FinalsDecoding:
        """How to decode a batch of `finals` finals with `finals_waiting` more behind it, while
        `workers_busy` other decoders are at work."""
        if finals_waiting > self.max_batch:
            self._observe(LoadLevel.QUEUEING)
        costly = self.beam_size > 1 or self.context
        pressed = finals_waiting >= self.greedy_when_waiting or workers_busy >= GREEDY_WHEN_BUSY
        if costly and pressed and not self._pinned:
            self._observe(LoadLevel.GREEDY)
            self.finals_greedy += finals
            metrics.finals_greedy(finals)
            return FinalsDecoding(1, context=False)
        self._observe(LoadLevel.NORMAL)
        self.finals_with_beam += finals
        return FinalsDecoding(self.beam_size, self.context)

    def heard_in_context(self, finals: int) -> None:
        """Finals decoded after their speaker's previous utterance (those with one that fitted)."""
        self.finals_in_context += finals

    def summary(self) -> dict[str, int]:
        return {"partials_shed": self.partials_shed, "finals_greedy": self.finals_greedy,
                "finals_with_beam": self.finals_with_beam, "finals_in_context": self.finals_in_context}

    def _observe(self, seen: LoadLevel) -> None:
        now = time.monotonic()
        if seen > LoadLevel.NORMAL:
            self._raised_at[seen] = now
        held = [level for level in LoadLevel if level > LoadLevel.NORMAL and now - self._raised_at[level] < HOLD_S]
        level = max(held, default=LoadLevel.NORMAL)
        if level != self.level:
            log.info("asr_load_level", level=level.name.lower(), previous=self.level.name.lower(),
                     partials_shed=self.partials_shed, finals_greedy=self.finals_greedy)
            self.level = level
            metrics.load_level(int(level))
