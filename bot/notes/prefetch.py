"""Embed finalized segments in the background while a session runs, so the note at the end is quick.

A generator that can `prefetch` (the structured one) keeps the sentence vectors in memory only;
`forget` drops them (an objection, a purge), and drafting the note drops them too. One worker
at a time, off the event loop; segments that arrive while it works are taken in its next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from bot.log import get_logger
from bot.transcribe.segment import Segment

log = get_logger(__name__)


class Prefetching(Protocol):
    def prefetch(self, segments: Sequence[Segment], language: str) -> int: ...

    def forget(self) -> None: ...


class BackgroundPrefetch:
    def __init__(self, generator: Prefetching, language: str) -> None:
        self._generator = generator
        self._language = language
        self._pending: list[Segment] = []
        self._previous: Segment | None = None  # a short answer is embedded with the question before it
        self._worker: asyncio.Task[None] | None = None
        self._forgotten = False
        self.embedded = 0

    @staticmethod
    def supported(generator: object) -> bool:
        return callable(getattr(generator, "prefetch", None)) and callable(getattr(generator, "forget", None))

    def add(self, segment: Segment) -> asyncio.Task[None] | None:
        """Queue a finalized segment; returns the worker task when one was started (for the caller to track)."""
        if self._forgotten:
            return None
        self._pending.append(segment)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())
            return self._worker
        return None

    async def _work(self) -> None:
        while self._pending and not self._forgotten:
            batch, self._pending = self._pending, []
            context = ([self._previous] if self._previous is not None else []) + batch
            self._previous = batch[-1]
            try:
                self.embedded += await asyncio.to_thread(self._generator.prefetch, context, self._language)
            except Exception as exc:  # noqa: BLE001 - prefetching is an optimisation: the note embeds what is missing
                log.warning("note_prefetch_failed", error=type(exc).__name__)
                return
        if self._forgotten:  # an objection arrived while a batch was being embedded
            self._generator.forget()

    def forget(self) -> None:
        """Drop queued segments and every vector made so far; nothing more is prefetched."""
        self._forgotten = True
        self._pending.clear()
        self._previous = None
        self._generator.forget()
