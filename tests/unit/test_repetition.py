"""A short window can make Whisper say an utterance twice: such text gets the careful decode."""

from __future__ import annotations

import pytest

from bot.transcribe.decoder import repeats_itself


@pytest.mark.parametrize("text", [
    "dal passo si sale sulla vetta non con la cresta sud dal passo si sale sulla vetta non con la cresta sud",
    "I went to the shop and then I went to the shop and then",
    "we went out and we went out and we went out",
])
def test_a_text_that_ends_by_repeating_itself_is_suspicious(text: str) -> None:
    assert repeats_itself(text)


@pytest.mark.parametrize("text", [
    "Die Werbung vermittelt einen falschen Eindruck.",
    "I think, I think so.",  # a short repeat is how people talk
    "very very very good",
    "",
])
def test_ordinary_text_is_not(text: str) -> None:
    assert not repeats_itself(text)
