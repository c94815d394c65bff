"""A fair, bounded queue of utterances waiting for the shared model.

Each stream has its own queue; a batch takes at most one utterance per stream,
visiting streams round-robin, so one talkative participant cannot starve
another. Finals go first, then early finals (decoded ahead of a pause that may
end the utterance), then partials. The total is bounded: when it is full, a new
partial or early final is refused, and a new final pushes out the oldest partial
or early final or, failing that, is refused itself. Every refusal is counted and logged,
never silent.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

from bot.transcribe.decoder import Job, Outcome

Kind = Literal["final", "early", "partial"]
PRIORITY: tuple[Kind, ...] = ("final", "early", "partial")


@dataclass
class Request:
    stream_id: str
    kind: Kind
    job: Job
    future: asyncio.Future[Outcome]
    enqueued_at: float = 0.0


@dataclass
class SchedulerMetrics:
    queued: int = 0
    decoded: int = 0
    batches: int = 0
    overflow_dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRIORITY, 0))
    max_depth: int = 0


class QueueFull(Exception):
    pass


class FairScheduler:
    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self._queues: OrderedDict[str, deque[Request]] = OrderedDict()
        self._ready = asyncio.Event()
        self.metrics = SchedulerMetrics()

    @property
    def depth(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def waiting(self, kind: Kind) -> int:
        return sum(1 for q in self._queues.values() for r in q if r.kind == kind)

    def submit(self, request: Request) -> None:
        if self.depth >= self.max_queue and not self._evict_a_partial(request):
            self.metrics.overflow_dropped[request.kind] += 1
            raise QueueFull(f"transcription queue full ({self.max_queue} utterances)")
        self._queues.setdefault(request.stream_id, deque()).append(request)
        self.metrics.queued += 1
        self.metrics.max_depth = max(self.metrics.max_depth, self.depth)
        self._ready.set()

    def _evict_a_partial(self, incoming: Request) -> bool:
        if incoming.kind != "final":
            return False
        for queue in self._queues.values():
            for queued in queue:
                if queued.kind != "final":
                    queue.remove(queued)
                    self.metrics.overflow_dropped[queued.kind] += 1
                    queued.future.cancel()
                    return True
        return False

    async def next_batch(self, max_batch: int) -> list[Request]:
        while self.depth == 0:
            self._ready.clear()
            await self._ready.wait()
        batch: list[Request] = []
        for kind in PRIORITY:
            if batch:
                break
            for stream_id in list(self._queues):
                if len(batch) >= max_batch:
                    break
                queue = self._queues[stream_id]
                request = next((r for r in queue if r.kind == kind), None)
                if request is None or any(r.stream_id == stream_id for r in batch):
                    continue
                queue.remove(request)
                batch.append(request)
                self._queues.move_to_end(stream_id)  # round-robin: served streams go last
        for stream_id in [s for s, q in self._queues.items() if not q]:
            del self._queues[stream_id]
        self.metrics.batches += 1
        self.metrics.decoded += len(batch)
        return batch

    def cancel_stream(self, stream_id: str) -> None:
        for request in self._queues.pop(stream_id, deque()):
            request.future.cancel()
