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
        recent.kept(recent.open(), seconds(3.0, level), text)
    context = recent.context_for(seconds(2.0), recent.upcoming)
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
    recent.kept(recent.open(), seconds(2.0, 1), "one.")
    recent.kept(recent.open(), seconds(4.0, 2), "two.")
    context = recent.context_for(seconds(5.0), recent.upcoming)
    assert context is not None and context.text == "two."
    # 4 s + gap + 6 s is over the budget: nothing older either
    assert recent.context_for(seconds(6.0), recent.upcoming) is None


def test_anything_not_kept_breaks_the_chain_and_long_speech_is_never_context() -> None:
    recent = RecentSpeech(budget_s=10.0)
    recent.kept(recent.open(), seconds(1.0), "before.")
    recent.not_kept(recent.open())  # the consent stage held this one back
    recent.kept(recent.open(), seconds(1.0), "after.")
    context = recent.context_for(seconds(1.0), recent.upcoming)
    assert context is not None and context.text == "after."
    recent.kept(recent.open(), seconds(9.8), "a long one.")  # with the gap it cannot fit: nothing before it may be used
    assert len(recent) == 0 and recent.context_for(seconds(0.1), recent.upcoming) is None


def test_what_the_filters_dropped_neither_joins_nor_breaks_the_chain() -> None:
    recent = RecentSpeech(budget_s=10.0)
    recent.kept(recent.open(), seconds(1.0), "one.")
    recent.dropped(recent.open())  # a cough
    context = recent.context_for(seconds(1.0), recent.upcoming)
    assert context is not None and context.text == "one."


def test_a_final_whose_predecessor_is_unsettled_is_heard_alone_never_across_it() -> None:
    recent = RecentSpeech(budget_s=10.0)
    recent.kept(recent.open(), seconds(1.0), "one.")
    held, after = recent.open(), recent.open()
    assert recent.context_for(seconds(1.0), after) is None  # "held" is still being decoded or judged
    assert recent.context_for(seconds(1.0), recent.upcoming) is None  # nor an early decode of what comes next
    context = recent.context_for(seconds(1.0), held)
    assert context is not None and context.text == "one."  # the earlier one's own context is intact
    recent.not_kept(held)
    recent.kept(after, seconds(1.0), "after.")
    context = recent.context_for(seconds(1.0), recent.upcoming)
    assert context is not None and context.text == "after."  # never "one. after.": that would cross "held"


def test_finals_settled_out_of_order_are_chained_in_the_order_they_were_said() -> None:
    recent = RecentSpeech(budget_s=10.0)
    first, second = recent.open(), recent.open()
    recent.kept(second, seconds(1.0, 2), "two.")
    assert recent.context_for(seconds(1.0), recent.upcoming) is None  # "first" is unsettled
    recent.kept(first, seconds(1.0, 1), "one.")
    context = recent.context_for(seconds(1.0), recent.upcoming)
    assert context is not None and context.text == "one. two."
    before_second = recent.context_for(seconds(1.0), second)
    assert before_second is not None and before_second.text == "one."


def test_discarding_forgets_everything_and_late_settlements_change_nothing() -> None:
    recent = RecentSpeech(budget_s=10.0)
    recent.kept(recent.open(), seconds(1.0), "one.")
    pending = recent.open()
    recent.forget()
    recent.dropped(pending)
    assert len(recent) == 0 and recent.context_for(seconds(1.0), recent.upcoming) is None
    recent.kept(recent.open(), seconds(1.0), "two.")
    context = recent.context_for(seconds(1.0), recent.upcoming)
    assert context is not None and context.text == "two."  # "one." is gone for good


def test_at_most_a_few_utterances_so_the_forced_text_fits_the_decoder() -> None:
    recent = RecentSpeech(budget_s=20.0)
    for index in range(MAX_UTTERANCES + 2):
        recent.kept(recent.open(), seconds(0.5), f"u{index}.")
    context = recent.context_for(seconds(0.5), recent.upcoming)
    assert context is not None and len(context.text.split()) == MAX_UTTERANCES
    assert context.text.split()[-1] == f"u{MAX_UTTERANCES + 1}."


def test_no_budget_no_context() -> None:
    recent = RecentSpeech(budget_s=0.0)
    recent.kept(recent.open(), seconds(1.0), "one.")
    assert len(recent) == 0 and recent.context_for(seconds(1.0), recent.upcoming) is None


def test_one_utterance_is_its_own_context() -> None:
    single = Context(seconds(1.0, 4), "only.")
    assert Context.joined([single]).text == "only." and np.array_equal(Context.joined([single]).samples,
                                                                       single.samples)
