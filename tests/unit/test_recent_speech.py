"""Which earlier utterances a final is heard after (bot/transcribe/recent.py)."""

from __future__ import annotations

import numpy as np

from bot.audio.pcm import ASR_RATE
from bot.transcribe.decoder import CONTEXT_GAP_S, Context, Job
from bot.transcribe.recent import MAX_UTTERANCES, RecentSpeech


def seconds(s: float, level: int = 1) -> np.ndarray:
    return np.full(int(s * ASR_RATE), level, dtype=np.int16)


def test_the_most_recent_utterances_that_fit_come_oldest_first_with_the_gaps_of_the_window() -> None:
    recent = RecentSpeech(budget_s=10.0)
    for level, text in [(1, "one."), (2, "two."), (3, "three.")]:
        recent.kept(seconds(3.0, level), text)
    context = recent.context_for(seconds(2.0))
    assert context is not None
    assert context.text == "two. three."  # 3 + 3 + 2 s and two gaps fit in 10 s; a third 3 s would not
    gap = int(CONTEXT_GAP_S * ASR_RATE)
    assert context.samples.size == 2 * 3 * ASR_RATE + gap
    assert set(context.samples[: 3 * ASR_RATE]) == {2} and set(context.samples[-3 * ASR_RATE :]) == {3}
    assert not context.samples[3 * ASR_RATE : 3 * ASR_RATE + gap].any()
    window = Job(seconds(2.0, 9), "en", None, context=context).window_samples()
    assert window.size == context.samples.size + gap + 2 * ASR_RATE and window[-1] == 9


def test_a_long_new_utterance_leaves_less_room_and_none_when_the_newest_does_not_fit() -> None:
    recent = RecentSpeech(budget_s=10.0)
    recent.kept(seconds(2.0, 1), "one.")
    recent.kept(seconds(4.0, 2), "two.")
    context = recent.context_for(seconds(5.0))
    assert context is not None and context.text == "two."
    assert recent.context_for(seconds(6.0)) is None  # 4 s + gap + 6 s is over the budget: nothing older either


def test_anything_not_kept_breaks_the_chain_and_long_speech_is_never_context() -> None:
    recent = RecentSpeech(budget_s=10.0)
    recent.kept(seconds(1.0), "held?")
    recent.forget()  # the consent stage held the next one back
    recent.kept(seconds(1.0), "after.")
    context = recent.context_for(seconds(1.0))
    assert context is not None and context.text == "after."
    recent.kept(seconds(9.8), "a long one.")  # with the gap it cannot fit, so nothing before it may be used
    assert len(recent) == 0 and recent.context_for(seconds(0.1)) is None


def test_at_most_a_few_utterances_so_the_forced_text_fits_the_decoder() -> None:
    recent = RecentSpeech(budget_s=20.0)
    for index in range(MAX_UTTERANCES + 2):
        recent.kept(seconds(0.5), f"u{index}.")
    context = recent.context_for(seconds(0.5))
    assert context is not None and len(context.text.split()) == MAX_UTTERANCES
    assert context.text.split()[-1] == f"u{MAX_UTTERANCES + 1}."


def test_no_budget_no_context() -> None:
    recent = RecentSpeech(budget_s=0.0)
    recent.kept(seconds(1.0), "one.")
    assert len(recent) == 0 and recent.context_for(seconds(1.0)) is None


def test_one_utterance_is_its_own_context() -> None:
    single = Context(seconds(1.0, 4), "only.")
    assert Context.joined([single]).text == "only." and np.array_equal(Context.joined([single]).samples,
                                                                       single.samples)
