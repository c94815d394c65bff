"""The objection detector on typed text: the issue's cases and the evaluation set."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConfigError
from bot.consent.objection import ObjectionDetector, load_rules, normalize

EVAL_DIR = DEFAULT_ANNOUNCEMENTS_DIR / "examples"
LANGUAGES = sorted(p.stem for p in EVAL_DIR.glob("*.toml"))


def detector(language: str, sensitivity: str = "cautious") -> ObjectionDetector:
    return ObjectionDetector(DEFAULT_ANNOUNCEMENTS_DIR, language, sensitivity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "language, text, objection",
    [
        ("en", "I don't mind.", False),
        ("en", "I don't want this recorded.", True),
        ("en", "I don't want to go to work.", False),
        ("en", "Stop.", True),
        ("en", "I want to stop drinking before the wedding.", False),
        ("en", "I don't mind the recording, but please turn the AI off now.", True),
        ("en", "Honestly the AI can stay, it's fine.", False),
        ("es", "No me importa.", False),
        ("es", "No quiero que me grabe.", True),
        ("es", "Apague eso.", True),
        ("es", "No quiero ir al trabajo.", False),
    ],
)
def test_the_cases_named_in_the_issue(language: str, text: str, objection: bool) -> None:
    for sensitivity in ("balanced", "cautious"):
        assert detector(language, sensitivity).check(text, language).objection is objection, (text, sensitivity)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_rules_hold_on_the_examples_they_were_written_from(language: str) -> None:
    """The rules alone, on the examples: under 1 % false stops, and most objections (measured
    2026-11-24: 73-81 % per language). The examples now include the two former blind sets and
    ~100 objections per language written later for training, whose question-form and indirect
    objections are left to the semantic signal
    (tests/unit/test_objection_semantic.py tests it; `sessionbot bench consent` measures the whole
    detector on the blind set). The blocks added on 2026-12-06 (the third blind set, hard
    negatives) and after them (the fifth development set, 2026-12-07) came after the rules and train
    the semantic signal, which decides them; each block runs to its list's end, so cutting those of
    2026-12-06 cuts the later ones too."""
    data = tomllib.loads(_without_blocks_added_on((EVAL_DIR / f"{language}.toml").read_text(encoding="utf-8"), "2026-12-06"))
    check = detector(language)
    missed = [t for t in data["objections"] if not check.check(t, language).objection]
    false_stops = [t for t in data["non_objections"] if check.check(t, language).objection]
    assert len(data["objections"]) >= 30 and len(data["non_objections"]) >= 200
    assert 1 - len(missed) / len(data["objections"]) >= 0.7, missed
    assert len(false_stops) / len(data["non_objections"]) <= 0.01, false_stops


def _without_blocks_added_on(text: str, date: str) -> str:
    """The examples file without the blocks whose opening comment carries `date` (each runs to its list's end)."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.strip().startswith("#") and date in line:
            skipping = True
        elif line.strip() == "]":
            skipping = False
        if not skipping:
            kept.append(line)
    return "".join(kept)


def test_a_look_alike_cut_out_never_hides_the_assistant_of_the_call() -> None:
    """"assistente da loja" (a shop's assistant) is someone else; "o assistente da chamada" is the bot.
    The look-alike rule once cut both out, so "tirar o assistente da chamada" named no target."""
    check = detector("pt")
    assert check.check("Pode tirar o assistente da chamada, por favor?", "pt").objection
    assert check.check("Desliga o assistente da sessão, por favor.", "pt").objection
    assert not check.check("A assistente da loja me ligou ontem.", "pt").objection


def _without(tmp_path: Path, *keys: str) -> Path:
    """The shipped rules with these [objection] keys removed (each a list or an inline table)."""
    for path in DEFAULT_ANNOUNCEMENTS_DIR.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        for key in keys:
            text = re.sub(rf"^{key} = (\[\n.*?^\]|[\[{{].*?[\]}}])\n", "", text, flags=re.S | re.M)
            assert f"\n{key} = " not in text, key
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("language, text", [
    ("en", "I wasn't talking about the AI when I said turn it off, I meant the telly."),
    ("en", "Who said I didn't want the AI? Keep it."),
    ("pt", "Não falava do robô quando disse para desligar, era da TV."),
    ("pt", "Quando eu disse desliga a gravação era brincadeira."),
    ("fr", "Quand j'ai dit coupez l'enregistrement, c'était pour rire."),
    ("it", "Non deve spegnere la registrazione, stavo scherzando."),
    ("de", "Wer hat gesagt, dass ich die KI nicht will? Die kann bleiben."),
])
def test_a_clause_that_denies_objecting_never_stops_the_session(tmp_path: Path, language: str, text: str) -> None:
    """The rules without their `denials` stop on each of these; with them, a cue there counts for
    nothing and a pattern there asks instead (never for a fragment: its final decides)."""
    assert ObjectionDetector(_without(tmp_path, "denials"), language).check(text, language).objection
    decision = detector(language).check(text, language)
    assert not decision.objection
    assert decision.unsure == (decision.rule is not None and decision.rule.startswith("denied: "))
    fragment = detector(language).check(text, language, semantic=False)
    assert not fragment.objection and not fragment.unsure


@pytest.mark.parametrize("language, text", [
    ("en", "I'm not kidding, stop the recording."),
    ("es", "No es broma, apaga la grabación."),
    ("pt", "Não era brincadeira, desliga a gravação."),
    ("it", "Non sto scherzando, spenga la registrazione."),
    ("de", "Das ist kein Scherz, stoppen Sie die Aufnahme."),
])
def test_a_denied_denial_is_an_objection(language: str, text: str) -> None:
    assert detector(language).check(text, language).objection


@pytest.mark.parametrize("language, text", [
    ("en", "I don't object to the AI."),
    ("en", "I'm not uncomfortable with it recording."),
    ("es", "Que quede claro que yo no me opongo a la transcripción."),
    ("pt", "Eu não me oponho à gravação."),
    ("it", "nn rifiuto l'IA eh, puo scrivere"),
    ("it", "Io non mi oppongo alla registrazione."),
    ("fr", "Je refuse pas l'IA, elle peut noter."),
    ("fr", "Je m'oppose pas à l'IA."),
    ("de", "Die Transkription bitte nicht beenden."),
    ("de", "Ich werde die KI nie rauswerfen."),
])
def test_an_objection_word_said_negated_is_not_an_objection(tmp_path: Path, language: str, text: str) -> None:
    """The rules without `negations` stopped on each of these; with them the negated intent counts for
    nothing, and the clause denies objecting: the meaning model may only ask about it."""
    assert ObjectionDetector(_without(tmp_path, "negations", "negations_after"), language).check(text, language).objection
    assert not detector(language).check(text, language).objection
    assert detector(language).screen(text).denied


@pytest.mark.parametrize("language, text", [
    ("en", "Why don't you turn the AI off?"),
    ("en", "I really don't, stop the AI."),  # a negation set apart by a comma answers
    ("es", "No, apague la grabación."),  # a leading "no" answers: it negates nothing
    ("es", "No, no quiero que grabe."),  # an intent that is itself a negation is said as it is
    ("es", "Ya le dije que no, no quiero que grabe."),
    ("pt", "Não, desliga a gravação."),
    ("it", "Non voglio che registri."),
    ("fr", "Je refuse l'enregistrement."),
    ("de", "Stoppen Sie die Aufnahme, nicht später, jetzt."),
    # Found by review: each stopped before negations were read and must still, except "Eu disse que não,
    # desliga a IA", which never did (the acceptance "não desliga" read across its comma).
    ("fr", "Ne m'enregistrez plus."),  # the intent is itself the negation its "plus" completes
    ("fr", "Je ne veux plus être enregistré."),
    ("fr", "Arrêtez, pas envie d'être enregistrée."),  # punctuation sets the negation apart
    ("en", "i really dont, stop the ai"),  # shorthand expanded in the written text too
    ("en", "I really don't… stop the AI"),
    ("es", "Le dije que no, ¡apague la grabación!"),
    ("pt", "Eu disse que não, desliga a IA."),  # a negation's comma ends the clause: not "não desliga"
    ("pt", "eu disse q n, desliga a IA"),
    ("en", "Why not stop the recording?"),  # a negated request in a question is a suggestion
    ("es", "¿Por qué no apaga la grabación?"),
    ("pt", "Por que você não desliga a gravação?"),
    ("it", "Perché non spegni l'IA?"),
    ("de", "Können Sie die Aufnahme nicht stoppen?"),
])
def test_a_negation_elsewhere_in_the_clause_leaves_an_objection_standing(language: str, text: str) -> None:
    assert detector(language).check(text, language).objection


@pytest.mark.parametrize("language, text", [
    ("en", "i dont wanna be recorded"),
    ("pt", "nao quero q grave"),
    ("it", "nn voglio ke registri"),
    ("de", "ich will nich aufgenommen werden"),
])
def test_chat_shorthand_is_read_in_full(tmp_path: Path, language: str, text: str) -> None:
    assert not ObjectionDetector(_without(tmp_path, "shorthand"), language).check(text, language).objection
    assert detector(language).check(text, language).objection


def test_bad_shorthand_names_the_key_and_the_fix(tmp_path: Path) -> None:
    source = (DEFAULT_ANNOUNCEMENTS_DIR / "pt.toml").read_text(encoding="utf-8")
    (tmp_path / "pt.toml").write_text(source.replace('shorthand = { q = "que",', 'shorthand = { "q q" = "que",'),
                                      encoding="utf-8")
    with pytest.raises(ConfigError, match=r"objection\.shorthand .*Fix:"):
        load_rules(tmp_path, "pt")


def test_an_objection_in_another_language_than_the_session_is_still_heard() -> None:
    assert detector("en").check("No quiero que me grabe.", "es").objection


def test_normalization_keeps_accents_and_apostrophes() -> None:
    assert normalize("¿No quiere que GRABE?  Don’t!") == "no quiere que grabe don't"


def test_a_bad_rule_file_names_the_pattern(tmp_path: Path) -> None:
    (tmp_path / "xx.toml").write_text('[objection]\npatterns = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"objection.patterns: bad pattern '\(unclosed'"):
        load_rules(tmp_path, "xx")
    (tmp_path / "yy.toml").write_text('[objection]\npatterns = ["x"]\ntargetz = ["ai"]\n')
    with pytest.raises(ConfigError, match="objection.targetz"):
        load_rules(tmp_path, "yy")


BLIND_DIR = Path(__file__).resolve().parents[1] / "consent_eval" / "blind"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_blind_evaluation_set_is_large_enough_and_never_among_the_examples(language: str) -> None:
    """Issue 17 asks for ≥ 40 objections and ≥ 60 non-objections per language; a blind item copied
    into the examples (the semantic signal's training data, the after-announcement ones included)
    would make the bench measure memory. Failures give counts only: whoever runs this stays blind."""
    blind = tomllib.loads((BLIND_DIR / f"{language}.toml").read_text(encoding="utf-8"))
    counts = {key: len(blind.get(key, [])) for key in (
        "objections", "non_objections", "objections_after_announcement", "non_objections_after_announcement")}
    assert counts["objections"] >= 40 and counts["non_objections"] >= 60, counts
    assert counts["objections_after_announcement"] >= 8 and counts["non_objections_after_announcement"] >= 8, counts
    known: set[str] = set()
    for path in (EVAL_DIR / f"{language}.toml", EVAL_DIR / "after_announcement" / f"{language}.toml"):
        examples = tomllib.loads(path.read_text(encoding="utf-8"))
        known |= {normalize(t) for t in examples["objections"] + examples["non_objections"]}
    copied = sum(normalize(t) in known for items in blind.values() if isinstance(items, list) for t in items)
    assert copied == 0, f"{copied} blind items are among the examples"
