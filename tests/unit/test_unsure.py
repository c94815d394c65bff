"""Asking when unsure, without a model: the question texts, the answer rules and the settings."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConfigError, settings_from_mapping
from bot.consent.announcements import load_announcements
from bot.consent.unsure import AnswerRules, Questions

LANGUAGES = ("en", "es", "de", "fr", "it", "pt")

# (language, answers meaning "yes, leave", answers meaning "carry on"), written for this test.
ANSWERS = [
    ("en", ["Yes.", "Yeah, please.", "Yes please, go.", "Please leave.", "Sure.", "Stop."],
     ["No.", "No, it's fine, carry on.", "No, don't leave.", "Go on.", "I don't want you to leave.", "Nope, all good."]),
    ("es", ["Sí.", "Sí, por favor.", "Si", "Claro, váyase.", "Quiero que se vaya."],
     ["No.", "No, siga, está bien.", "No se vaya.", "No hace falta que se retire.", "Si quiere, siga."]),
    ("de", ["Ja.", "Ja, bitte.", "Gehen Sie bitte.", "Genau.", "Stopp."],
     ["Nein.", "Nein, alles gut, machen Sie weiter.", "Gehen Sie nicht.", "Bitte nicht gehen."]),
    ("fr", ["Oui.", "Oui, s'il vous plaît.", "Partez, s'il vous plaît.", "Ouais."],
     ["Non.", "Non, continuez.", "Ne partez pas.", "Non merci, c'est bon."]),
    ("it", ["Sì.", "Sì, grazie.", "Si", "Se ne vada, per favore.", "Certo."],
     ["No.", "No, continui pure.", "Non se ne vada.", "No, va bene così."]),
    ("pt", ["Sim.", "Sim, por favor.", "Pode sair.", "Claro, saia."],
     ["Não.", "Não, pode continuar.", "Não precisa sair.", "Não saia, está tudo bem."]),
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_the_question_in_chat_and_speech(language: str) -> None:
    a = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, language)
    assert a.text.ask_unsure and a.spoken.ask_unsure
    assert "Sam" in a.text_for("ask_unsure", "Sam") and "{" not in a.spoken_for("ask_unsure", "Sam")
    assert len(a.spoken.ask_unsure.split()) <= 25  # briefly, in speech
    assert a.unsure_answers.leave


@pytest.mark.parametrize(("language", "leave", "stay"), ANSWERS)
def test_answers_that_mean_leave_and_answers_that_mean_carry_on(language: str, leave: list[str],
                                                                stay: list[str]) -> None:
    rules = AnswerRules(load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, language))
    assert [a for a in leave if not rules.means_leave(a)] == []
    assert [a for a in stay if rules.means_leave(a)] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_question_heard_back_through_a_microphone_is_an_echo_not_a_yes(language: str) -> None:
    a = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, language)
    rules = AnswerRules(a)
    question = a.spoken_for("ask_unsure", "Sam")
    assert rules.means_leave(question)  # it says how to answer, so it must never count as the answer
    assert rules.is_echo(question)
    sentences = [s for s in question.replace("?", "?|").split("|") if len(s.split()) >= 3]
    assert all(rules.is_echo(s) for s in sentences), sentences
    assert not rules.is_echo(ANSWERS[LANGUAGES.index(language)][1][0])


def test_a_participant_is_asked_at_most_once_per_interval() -> None:
    questions = Questions(every_s=600)
    assert questions.may_ask("p1", 10.0)
    questions.last_asked_s["p1"] = 10.0
    assert not questions.may_ask("p1", 300.0) and questions.may_ask("p2", 300.0)
    assert questions.may_ask("p1", 610.0)


def test_the_settings_and_their_errors() -> None:
    consent = settings_from_mapping({}).consent
    assert consent.ask_when_unsure and consent.ask_threshold < consent.semantic_threshold
    with pytest.raises(ConfigError, match=r"consent\.ask_threshold: .*below consent\.semantic_threshold.*Fix: "):
        settings_from_mapping({"consent": {"ask_threshold": 0.95}})
    with pytest.raises(ConfigError, match=r"consent\.ask_window_s: bad value 0"):
        settings_from_mapping({"consent": {"ask_window_s": 0}})
    with pytest.raises(ConfigError, match=r"consent\.ask_every_min: bad value -1"):
        settings_from_mapping({"consent": {"ask_every_min": -1}})
    # Both lowered together is fine: only the order matters.
    assert settings_from_mapping({"consent": {"semantic_threshold": 0.6, "ask_threshold": 0.3}}).consent.ask_threshold == 0.3


def test_a_broken_answer_pattern_is_a_clear_error(tmp_path) -> None:
    text = (DEFAULT_ANNOUNCEMENTS_DIR / "en.toml").read_text(encoding="utf-8")
    (tmp_path / "en.toml").write_text(text.replace('leave = ["yes"', 'leave = ["(yes"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unsure_answers\.leave: bad pattern.*Fix"):
        AnswerRules(load_announcements(tmp_path, "en"))
