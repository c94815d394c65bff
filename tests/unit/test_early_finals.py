"""Early finals: a decode started during the hang-over is the final only for exactly the utterance
the hang-over closes; anything else is dropped, counted and never used."""

from __future__ import annotations

import asyncio

import numpy as np

from bot import metrics
from bot.audio.vad import Utterance
from bot.transcribe.decoder import Outcome
from bot.transcribe.early import EarlyFinals


def utterance(end_s: float, provisional: bool = False) -> Utterance:
    samples = np.zeros(int(end_s * 16_000) - 16_000, dtype=np.int16)
    return Utterance(samples, 1.0, end_s, cut=False, provisional=provisional)


def wasted_total() -> float:
    return metrics.REGISTRY.get_sample_value("sessionbot_transcription_early_finals_total", {"outcome": "wasted"}) or 0.0


async def test_the_decode_of_the_confirmed_utterance_is_claimed_and_used() -> None:
    early = EarlyFinals()
    outcome = Outcome(None)
    decode = asyncio.ensure_future(asyncio.sleep(0, result=outcome))
    early.begin(utterance(3.0, provisional=True), decode)
    claimed = early.claim(utterance(3.0))
    assert claimed is decode
    assert await early.outcome(claimed) is outcome
    assert (early.used, early.wasted) == (1, 0)
    assert early.claim(utterance(3.0)) is None  # claimed once only


async def test_speech_that_went_on_wastes_the_early_decode() -> None:
    early = EarlyFinals()
    before = wasted_total()
    decode = asyncio.ensure_future(asyncio.sleep(10))
    early.begin(utterance(3.0, provisional=True), decode)
    assert early.claim(utterance(4.5)) is None  # the hang-over closed a longer utterance
    await asyncio.sleep(0)
    assert decode.cancelled() and (early.used, early.wasted) == (0, 1)
    assert wasted_total() - before == 1


async def test_a_new_pause_or_the_end_of_the_stream_drops_the_one_before() -> None:
    early = EarlyFinals()
    first, second = asyncio.ensure_future(asyncio.sleep(10)), asyncio.ensure_future(asyncio.sleep(10))
    early.begin(utterance(2.0, provisional=True), first)
    early.begin(utterance(3.0, provisional=True), second)  # speech resumed, then paused again
    early.drop()  # the stream ended (or an objection discarded it)
    await asyncio.sleep(0)
    assert first.cancelled() and second.cancelled() and early.wasted == 2


async def test_a_decode_that_never_ran_or_failed_means_decoding_the_final_anew() -> None:
    early = EarlyFinals()
    never_ran = asyncio.ensure_future(asyncio.sleep(0, result=None))
    early.begin(utterance(3.0, provisional=True), never_ran)
    assert await early.outcome(early.claim(utterance(3.0))) is None  # type: ignore[arg-type]

    async def fail() -> Outcome:
        raise RuntimeError("decoder error")

    failed = asyncio.ensure_future(fail())
    early.begin(utterance(3.0, provisional=True), failed)
    assert await early.outcome(early.claim(utterance(3.0))) is None  # type: ignore[arg-type]
    assert early.used == 0
