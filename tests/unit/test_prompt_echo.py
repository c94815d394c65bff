"""The prompt-echo measure of bot/transcribe/decoder.py, on the project's real prompts."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_ANNOUNCEMENTS_DIR
from bot.consent.announcements import load_announcements
from bot.transcribe.decoder import ECHO_MIN_SHARE, is_prompt_echo, prompt_overlap

PT = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, "pt").asr_prompt
# The Portuguese prompt before it lost its objection wording: what Whisper echoed in the false stops.
OLD_PT = ("Sessão de terapia. O assistente de IA, o bot, está transcrevendo; diga pare, não quero que grave, "
          "sem gravação, desligue isso.")


@pytest.mark.parametrize("echo", [
    "O bot, está transcrevendo.",  # what base returned for noise with the old prompt
    "não quero que grave, sem gravação, desligue isso",
    "Sessão de terapia. O bot, está transcrevendo.",  # skips part of the prompt
    "o bot está transcrevendo o bot está transcrevendo",  # repeats it
])
def test_pieces_of_the_prompt_are_echoes(echo: str) -> None:
    assert prompt_overlap(echo, OLD_PT) >= ECHO_MIN_SHARE
    assert is_prompt_echo(echo, OLD_PT)


def test_a_two_word_piece_is_an_echo_but_two_prompt_words_out_of_order_are_not() -> None:
    assert is_prompt_echo("O terapeuta.", PT)
    assert not is_prompt_echo("terapeuta o", PT)
    assert not is_prompt_echo("IA", PT)  # one word is never enough


@pytest.mark.parametrize("said", [
    "Um grupo de crianças está andando em um rio perto da margem do rio.",
    "O meu carro quebrou de novo e eu fiquei muito ansioso com o trabalho.",
    "A sessão de hoje foi boa, falamos da minha família.",
    "Eu não durmo bem desde que comecei no trabalho novo.",
])
def test_ordinary_talk_is_not_an_echo(said: str) -> None:
    assert prompt_overlap(said, PT) < ECHO_MIN_SHARE
    assert not is_prompt_echo(said, PT)


@pytest.mark.parametrize("objection", [
    "desligue o assistente de IA",  # 60 % is the prompt's "assistente de IA"
    "não quero o assistente de IA",
    "pare a transcrição e a gravação",
])
def test_a_word_of_the_participants_own_keeps_the_text(objection: str) -> None:
    assert not is_prompt_echo(objection, PT)


def test_the_own_word_rule_is_what_keeps_an_objection_that_quotes_the_prompt() -> None:
    assert prompt_overlap("desligue o assistente de IA", PT) >= ECHO_MIN_SHARE
    assert not is_prompt_echo("desligue o assistente de IA", PT)


def test_without_a_prompt_nothing_is_an_echo() -> None:
    assert not is_prompt_echo("O bot, está transcrevendo.", None)
    assert prompt_overlap("O bot, está transcrevendo.", "") == 0.0
    assert not is_prompt_echo("", PT)


def test_case_and_punctuation_do_not_matter() -> None:
    assert prompt_overlap("A TRANSCRIÇÃO e a gravação!", PT) == pytest.approx(1.0)
    assert prompt_overlap("a transcricao e a gravacao", PT) == 0.0  # accents are letters, as Whisper writes them
