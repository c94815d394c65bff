"""The shared engine's queue: fair between streams, finals first, overflow counted and refused."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.transcribe.decoder import Job
from bot.transcribe.scheduler import FairScheduler, QueueFull, Request


def request(stream: str, kind: str = "final") -> Request:
    future = asyncio.get_running_loop().create_future()
    return Request(stream, kind, Job(np.zeros(160, dtype=np.int16), "en", None), future)  # type: ignore[arg-type]


async def test_a_talkative_stream_does_not_starve_the_others() -> None:
    scheduler = FairScheduler(max_queue=100)
    for _ in range(10):
        scheduler.submit(request("chatty"))
    scheduler.submit(request("quiet"))
    first = await scheduler.next_batch(max_batch=1)
    second = await scheduler.next_batch(max_batch=1)
    assert {first[0].stream_id, second[0].stream_id} == {"chatty", "quiet"}


async def test_a_batch_takes_one_utterance_per_stream_finals_first_and_never_mixes_kinds() -> None:
    scheduler = FairScheduler(max_queue=100)
    scheduler.submit(request("a", "partial"))
    scheduler.submit(request("a"))
    scheduler.submit(request("a"))
    scheduler.submit(request("b", "partial"))
    scheduler.submit(request("c"))
    assert (scheduler.waiting("final"), scheduler.waiting("partial")) == (3, 2)
    batch = await scheduler.next_batch(max_batch=4)
    assert [(r.stream_id, r.kind) for r in batch] == [("a", "final"), ("c", "final")]
    batch = await scheduler.next_batch(max_batch=4)
    assert [(r.stream_id, r.kind) for r in batch] == [("a", "final")]  # finals and partials decode with other beams
    batch = await scheduler.next_batch(max_batch=4)
    assert sorted((r.stream_id, r.kind) for r in batch) == [("a", "partial"), ("b", "partial")]


async def test_overflow_is_refused_and_counted_and_a_final_displaces_a_partial() -> None:
    scheduler = FairScheduler(max_queue=2)
    scheduler.submit(request("a", "partial"))
    scheduler.submit(request("b"))
    with pytest.raises(QueueFull):
        scheduler.submit(request("c", "partial"))
    scheduler.submit(request("c"))  # evicts a's partial rather than losing a final
    with pytest.raises(QueueFull):
        scheduler.submit(request("d"))
    assert scheduler.metrics.overflow_dropped == {"final": 1, "early": 0, "partial": 2}
    assert scheduler.depth == 2


async def test_early_finals_go_after_finals_and_before_partials_and_give_way_when_full() -> None:
    """An early final (decoded ahead of a pause that may end the utterance) is spare-compute work:
    it never delays a final, but is worth more than a caption."""
    loop = asyncio.get_running_loop()
    scheduler = FairScheduler(max_queue=2)

    def request(stream: str, kind: str) -> Request:
        return Request(stream, kind, None, loop.create_future())  # type: ignore[arg-type]

    partial, early = request("a", "partial"), request("b", "early")
    scheduler.submit(partial)
    scheduler.submit(early)
    final = request("c", "final")
    scheduler.submit(final)  # full: the final displaces the oldest non-final
    assert partial.future.cancelled() and not early.future.cancelled()
    assert [r.kind for r in await scheduler.next_batch(4)] == ["final"]
    assert [r.kind for r in await scheduler.next_batch(4)] == ["early"]
