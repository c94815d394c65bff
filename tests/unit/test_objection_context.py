"""What was said just before counts (issue 17 item 3): right after the announcement "that thing" is
the assistant; right after the clinician asks about the assistant, a bare "no" answers it."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.consent.context import ANSWER_WINDOW_S, ConversationContext, Cues
from bot.consent.guard import ConsentGuard
from bot.consent.objection import ObjectionDetector
from bot.transcribe.segment import Participant

SETTINGS = load_settings(None)
CLINICIAN = Participant("c", "Dr. Rivera", "clinician")
CLIENT = Participant("p", "Sam", "client")
AFTER_ANNOUNCEMENT = Cues(bot_just_spoke=True)
ANSWERING = Cues(answering=True)

# Deictic objections the outside evaluation missed (issue 17), and the same words asking for something else.
DEICTIC = {
    "en": ("Can you turn that thing off, please?", "Can you pass me that thing, please?"),
    "fr": ("Pouvez-vous éteindre ça ?", "Pouvez-vous me passer ça ?"),
    "it": ("Può spegnere quella cosa?", "Mi può passare quella cosa?"),
    "es": ("¿Puede apagar esa cosa, por favor?", "¿Me puede pasar esa cosa, por favor?"),
    "de": ("Können Sie das Ding bitte ausmachen?", "Können Sie mir das Ding bitte geben?"),
    "pt": ("Você pode desligar essa coisa?", "Você pode me passar essa coisa?"),
}
REFUSALS = {"en": "Not really.", "fr": "Pas vraiment.", "it": "Non proprio.", "es": "La verdad que no.",
            "de": "Nicht wirklich.", "pt": "Não muito."}
ASSENTS = {"en": "Yes, that's fine.", "fr": "Oui, ça va.", "it": "Sì, va bene.", "es": "Sí, está bien.",
           "de": "Ja, das ist in Ordnung.", "pt": "Sim, tudo bem."}


def detector(language: str) -> ObjectionDetector:
    return ObjectionDetector(SETTINGS.paths.announcements_dir, language, "cautious", None)


@pytest.mark.parametrize("language", sorted(DEICTIC))
def test_that_thing_right_after_the_announcement_is_the_assistant(language: str) -> None:
    objection, request = DEICTIC[language]
    rules = detector(language)
    assert rules.check(objection, cues=AFTER_ANNOUNCEMENT).objection
    assert not rules.check(request, cues=AFTER_ANNOUNCEMENT).objection


@pytest.mark.parametrize("language", ["en", "fr", "it"])
def test_without_the_announcement_that_thing_is_not_the_assistant(language: str) -> None:
    assert not detector(language).check(DEICTIC[language][0]).objection  # a TV, a fan, a phone…


@pytest.mark.parametrize("language", sorted(REFUSALS))
def test_a_bare_no_answers_a_question_about_the_assistant(language: str) -> None:
    rules = detector(language)
    assert rules.check(REFUSALS[language], cues=ANSWERING).objection
    assert not rules.check(REFUSALS[language]).objection  # "not really" about anything else
    assert not rules.check(ASSENTS[language], cues=ANSWERING).objection


def test_the_context_has_windows_and_the_asker_does_not_answer_themself() -> None:
    context = ConversationContext(context_s=45.0)
    context.bot_speaking(10.0, 30.0)
    assert context.cues(CLIENT, 20.0).bot_just_spoke  # while it announces
    assert context.cues(CLIENT, 74.0).bot_just_spoke and not context.cues(CLIENT, 76.0).bot_just_spoke
    assert not context.cues(CLIENT, None).bot_just_spoke
    context.question_asked(CLINICIAN, 100.0)
    assert context.cues(CLIENT, 105.0).answering
    assert not context.cues(CLINICIAN, 105.0).answering
    assert not context.cues(CLIENT, 100.0 + ANSWER_WINDOW_S + 1).answering


def test_the_guard_hears_the_clinicians_question_then_the_clients_answer() -> None:
    guard = ConsentGuard(SETTINGS.consent.model_copy(update={"semantic_signal": False}),
                         SETTINGS.paths.announcements_dir, "en")
    assert guard.on_speech(CLIENT, "Not really.", "en", 4.0) is None  # nobody asked anything
    assert guard.on_speech(CLINICIAN, "Before we start, are you OK with the assistant today?", "en", 5.0) is None
    event = guard.on_speech(CLIENT, "Not really.", "en", 8.0)
    assert event is not None and event.action == "objection" and event.rule.startswith("answer:")
    # Typed in the chat, with the time it was typed: the same.
    assert guard.on_text(CLIENT, "no thanks", 9.0).action == "objection"
    # A question about something else opens nothing.
    guard = ConsentGuard(SETTINGS.consent.model_copy(update={"semantic_signal": False}),
                         SETTINGS.paths.announcements_dir, "en")
    assert guard.on_speech(CLINICIAN, "Did you sleep better this week?", "en", 5.0) is None
    assert guard.on_speech(CLIENT, "Not really.", "en", 8.0) is None
