"""How many tokens one pass may generate: enough for any real utterance, few enough that a decode
which loops ("X. X. X …") stops early instead of holding the shared worker for MAX_NEW_TOKENS."""

import numpy as np

from bot.audio.pcm import ASR_RATE
from bot.transcribe.decoder import MAX_NEW_TOKENS, TOKENS_PER_SECOND, Job, max_new_tokens


def job(seconds: float) -> Job:
    return Job(np.zeros(int(seconds * ASR_RATE), dtype=np.int16), "es", None)


def test_the_cap_follows_the_longest_utterance_of_the_batch() -> None:
    assert max_new_tokens([job(4.2)]) < MAX_NEW_TOKENS / 2
    assert max_new_tokens([job(1.0), job(4.2)]) == max_new_tokens([job(4.2)])
    assert max_new_tokens([job(29.0)]) == MAX_NEW_TOKENS


def test_the_cap_leaves_room_for_fast_speech_in_a_long_tokenised_language() -> None:
    # 4 words a second at 2.5 tokens a word (German, Portuguese) is 10 tokens a second.
    for seconds in (0.5, 2.0, 4.0, 8.0):
        assert max_new_tokens([job(seconds)]) >= 10 * seconds + 8
    assert TOKENS_PER_SECOND >= 10
