"""The evidence check is polarity-safe: a statement that flips what was said is not supported.

Real parts throughout: the check itself, the structured generator (lexical embedder for the fast
tests, e5 for the ACI-BENCH one) and the model-server path's statement check."""

from __future__ import annotations

import json
import re

import pytest

from tests.requirements import require

from bot.notes.evidence import check, is_supported, support_share
from bot.notes.model_server import checked_sections
from bot.notes.polarity import tokens
from bot.notes.structured import StructuredNoteGenerator
from bot.notes.templates import load_template
from bot.transcribe.segment import Segment
from tests.conftest import data_dir


def seg(i: int, role: str, text: str, language: str = "en") -> Segment:
    return Segment(f"S{i}", "s", "p1" if role == "clinician" else "p2", "Dr. Lee" if role == "clinician" else "Sam",
                   role, i * 5.0, i * 5.0 + 4, text, language, 0.9)


FLIPPED = [  # (statement, what was said): every word is in the evidence, the polarity is not
    ("Client does not report trouble sleeping.", ["I have trouble sleeping."], "en"),
    ("Client reports: does not have trouble sleeping.", ["I have trouble sleeping."], "en"),
    ("Client reports: has trouble sleeping.", ["I don't have trouble sleeping."], "en"),
    ("Client reports: drinks on weekends.", ["I stopped drinking on weekends."], "en"),
    ("Client never feels anxious at work.", ["I feel anxious at work every day."], "en"),
    ("Client reports trouble sleeping.", ["Any trouble sleeping?", "No."], "en"),
    ("Client denies panic attacks.", ["I had two panic attacks last week."], "en"),
    ("Client reports: sleeps well, does not drink, exercises daily.", ["I sleep well, I drink, I exercise daily."],
     "en"),
    ("Cliente refiere: no duerme bien.", ["Duermo bien."], "es"),
    ("Cliente refiere: duerme bien.", ["No duermo bien."], "es"),
    ("Cliente refiere: tiene ganas de salir.", ["No tengo ganas de salir."], "es"),
    ("Cliente bebe los fines de semana.", ["Dejé de beber los fines de semana."], "es"),
    ("Cliente niega ataques de pánico.", ["Tuve dos ataques de pánico."], "es"),
    ("Cliente refiere: tiene problemas en el trabajo.", ["Ya no tengo problemas en el trabajo."], "es"),
]

FAITHFUL = [  # paraphrases and faithful negations
    ("Client reports: has trouble sleeping.", ["I have trouble sleeping."], "en"),
    ("Client denies suicidal thoughts.", ["I'm not having any thoughts of hurting myself."], "en"),
    ("Client no longer drinks.", ["I stopped drinking."], "en"),
    ("Client no longer drinks.", ["I don't drink anymore."], "en"),
    ("Client reports: does not sleep well.", ["I do n't sleep well."], "en"),  # tokenised transcript
    ("Client denies trouble sleeping.", ["Any trouble sleeping?", "No."], "en"),
    ("Client reports sleeping fine.", ["No, I sleep fine."], "en"),
    ("Client reports sleeping poorly but without nightmares.", ["I sleep poorly but I have no nightmares."], "en"),
    ("Client quit smoking.", ["I quit smoking last year."], "en"),
    ("Cliente refiere: no duerme bien.", ["No duermo bien."], "es"),
    ("Cliente niega ideas suicidas.", ["No tengo ideas de hacerme daño."], "es"),
    ("Cliente ya no bebe.", ["Dejé de beber."], "es"),
    ("Cliente refiere: no tiene ningún problema en el trabajo.", ["No tengo ningún problema en el trabajo."], "es"),
    ("Cliente niega problemas para dormir.", ["¿Tienes problemas para dormir?", "No, nunca."], "es"),
]


@pytest.mark.parametrize("statement, said, language", FLIPPED)
def test_a_statement_that_flips_the_polarity_is_not_supported(statement: str, said: list[str], language: str) -> None:
    evidence = [seg(i + 1, "clinician" if text.rstrip().endswith("?") else "client", text, language)
                for i, text in enumerate(said)]
    for mode in (None, language):  # the bench counts every word; the model-server path skips function words
        result = check(statement, evidence, mode)
        assert not result.supported and result.contradicted, (mode, result)
        assert support_share(statement, evidence, mode) == 0.0


@pytest.mark.parametrize("statement, said, language", FAITHFUL)
def test_faithful_paraphrases_and_negations_are_supported(statement: str, said: list[str], language: str) -> None:
    evidence = [seg(i + 1, "clinician" if "?" in text else "client", text, language) for i, text in enumerate(said)]
    result = check(statement, evidence, language)
    assert result.supported and not result.contradicted, result


def test_invented_content_is_still_unsupported_whatever_its_polarity() -> None:
    said = [seg(1, "client", "I slept badly all week.")]
    assert not is_supported("Client reports: went skydiving with their brother.", said)
    assert not is_supported("Client denies going skydiving with their brother.", said)


def test_a_negation_reaches_to_the_end_of_its_clause_only() -> None:
    negated = {t.word: t.negated for t in tokens("I don't sleep well, and I feel tired. Work is fine but I'm not")}
    assert negated["sleep"] and negated["well"] and negated["tired"]  # a comma does not end a clause
    assert not negated["work"] and not negated["fine"]  # a sentence mark does
    answer = {t.word: t.negated for t in tokens("No, I sleep fine.")}
    assert not answer["sleep"] and not answer["fine"]  # an answer particle negates nothing after its comma
    spanish = {t.word: t.negated for t in tokens("Ya no bebo, pero fumo.")}
    assert spanish["bebo"] and not spanish["fumo"]
    cues = {t.word for t in tokens("Dejé de fumar y no longer drink") if t.cue}
    assert cues == {"dejé", "no", "longer"}


def test_the_model_server_path_drops_a_flipped_statement_and_keeps_a_faithful_negation() -> None:
    spec = load_template("soap", "en")
    segments = [seg(1, "clinician", "Any thoughts of hurting yourself?"), seg(2, "client", "No, not at all."),
                seg(3, "client", "I have trouble sleeping.")]
    answer = [{"title": "Subjective", "statements": [
        {"text": "Client denies thoughts of hurting themself.", "segment_ids": ["S1", "S2"]},
        {"text": "Client does not have trouble sleeping.", "segment_ids": ["S3"]},  # flipped
        {"text": "Client reports thoughts of hurting themself.", "segment_ids": ["S1", "S2"]},  # flipped
    ]}]
    sections, counts = checked_sections(answer, segments, spec, "drop")
    subjective = next(s for s in sections if s.title == "Subjective")
    assert [s.text for s in subjective.statements] == ["Client denies thoughts of hurting themself."]
    assert counts.unsupported == 2 and counts.contradicted == 2


def _negated_rewrites(note) -> int:  # type: ignore[no-untyped-def]
    return sum(bool(re.search(r"\b(?:not|never|no)\b|n't\b", st.text)) for s in note.sections for st in s.statements)


def test_the_generator_rewrites_keep_their_polarity_supported() -> None:
    from bot.bench.notes import facts_for
    from bot.notes.embedding import TfidfEmbedder

    segments = [seg(1, "clinician", "How has your sleep been this week?"),
                seg(2, "client", "I haven't been sleeping well and I don't feel rested."),
                seg(3, "client", "I stopped drinking coffee after lunch."),
                seg(4, "clinician", "Any thoughts of hurting yourself?"), seg(5, "client", "No, never."),
                seg(6, "clinician", "I'd like you to keep the sleep diary and not use your phone in bed.")]
    by_id = {s.id: s for s in segments}
    note = StructuredNoteGenerator(embedder=TfidfEmbedder()).generate(segments, facts_for(segments, "s"), "progress")
    assert _negated_rewrites(note) >= 1
    for section in note.sections:
        for statement in section.statements:
            assert is_supported(statement.text, [by_id[e.segment_id] for e in statement.evidence]), statement.text


@pytest.mark.slow  # embeds a whole 10-minute visit with e5, for two templates (~10 s on 2 cores)
def test_the_generators_own_notes_on_an_aci_bench_dialogue_are_all_supported() -> None:
    from bot.bench.notes import facts_for
    from bot.notes.dialogue import parse_dialogue_text

    path = data_dir() / "aci-bench" / "train-sample.jsonl"
    require("data", path.is_file(), f"ACI-BENCH sample not found at {path}; set SESSIONBOT_DATA_DIR to the shared data directory")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    generator = StructuredNoteGenerator()
    checked = negated = 0
    for row in rows[:3]:
        segments = parse_dialogue_text(row["dialogue"], "en", row["encounter_id"])
        by_id = {s.id: s for s in segments}
        for template in ("progress", "soap"):
            note = generator.generate(segments, facts_for(segments, row["encounter_id"]), template,
                                      frozenset({"notes", "client_summary"}))
            negated += _negated_rewrites(note)
            for section in note.sections:
                for statement in section.statements:
                    cited = [by_id[e.segment_id] for e in statement.evidence]
                    for mode in (None, "en"):
                        assert is_supported(statement.text, cited, mode), (mode, statement.text)
                    checked += 1
    assert checked > 50 and negated > 5  # the check met real negations, not only affirmative statements
