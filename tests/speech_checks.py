"""Checks on recognised speech that survive Whisper's small slips.

Whisper hears "pancake" for "pancakes" or "Sundays" for "Sunday" when the machine
is busy; a test that asserts exact words then fails for no fault of the code.
A word counts as heard when a recognised word is close to it: the same word
with an ending added or dropped ("pancake"/"pancakes"), or, for words of six
letters or more, one letter changed with the first letter kept. "river" and
"driver" stay different words.
"""

from __future__ import annotations

import re

MAX_ENDING = 2  # letters an ending may add: pancake/pancakes, walk/walked


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def close(heard: str, expected: str) -> bool:
    if heard == expected:
        return True
    shorter, longer = sorted((heard, expected), key=len)
    if len(shorter) >= 4 and longer.startswith(shorter) and len(longer) - len(shorter) <= MAX_ENDING:
        return True
    return len(shorter) >= 6 and heard[0] == expected[0] and _one_edit(heard, expected)


def _one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    shorter, longer = sorted((a, b), key=len)
    if len(longer) - len(shorter) != 1:
        return False
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))


def heard(word: str, text: str) -> bool:
    """Whether `word` (or a near form of it) occurs in the recognised `text`."""
    target = word.lower()
    return any(close(candidate, target) for candidate in words(text))


def share_heard(expected: list[str], text: str) -> float:
    return sum(heard(word, text) for word in expected) / len(expected)
