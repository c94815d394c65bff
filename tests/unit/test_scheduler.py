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
    assert scheduler.metrics.overflow_dropped == {"final": 1, "partial": 2}
    assert scheduler.depth == 2
