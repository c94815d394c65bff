"""Clinician-style statements (issue 13 item 3): restated in the third person, one fact each, numbers and
doses as written, fillers out, merged when they say the same thing, quoted only where no rule is faithful,
and every restatement still supported — polarity included — by the segments it cites."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.notes.base import Evidence, SessionFacts, Statement
from bot.notes.budget import NOTE_MIN_WORDS, Candidate, note_budget, within_budget
from bot.notes.compose import pronouns
from bot.notes.evidence import check
from bot.notes.merge import merged
from bot.notes.person import Referent, referent_for, shift
from bot.notes.restate import answer_polarity, restate, restate_answer
from bot.notes.salience import MODEL_PATH, load_salience
from bot.notes.sections_model import file_sha256
from bot.notes.statements import draft
from bot.notes.structured import StructuredNoteGenerator, TfidfEmbedder
from bot.notes.units import Unit, build_units
from bot.notes.unpunctuated import split
from bot.notes.written import written
from bot.transcribe.segment import Segment

CLIENT = Referent()  # "the client", they
PATIENT_HE = referent_for("the patient", ["James is a 57-year-old male here for back pain."])


def seg(i: int, role: str, text: str) -> Segment:
    return Segment(f"S{i}", "s", "p1" if role == "clinician" else "p2", "Dr. Lee" if role == "clinician" else "Sam",
                   role, i * 5.0, i * 5.0 + 4, text, "en", 0.9)


def restated(sentence: str, role: str, person: Referent = CLIENT) -> list[str] | None:
    out = restate(sentence, role, person)
    return None if out is None else [r.text for r in out]


@pytest.mark.parametrize("role, sentence, expected", [
    ("client", "Um, I have been sleeping better this week.", "The client has been sleeping better this week."),
    ("client", "I've noticed my mood drops on Sundays.", "The client has noticed their mood drops on Sundays."),
    ("client", "I don't sleep much.", "The client does not sleep much."),
    ("client", "I had two panic attacks at work on Tuesday.", "The client had 2 panic attacks at work on Tuesday."),
    ("client", "Work has been really stressful, you know.", "The client reports work has been really stressful."),
    ("client", "Been taking my medications every day.", "The client has been taking their medications every day."),
    ("clinician", "I'd like you to keep a sleep diary.", "The client is advised to keep a sleep diary."),
    ("clinician", "We'll increase your dose to 40 milligrams once a day.",
     "Increase the client's dose to 40 mg once daily."),
    ("clinician", "It sounds like you're being hard on yourself.",
     "Impression: the client is being hard on themself."),
    ("clinician", "Let's meet again next Tuesday at the same time.", "Meet again next Tuesday at the same time."),
    ("clinician", "Your blood pressure is 120 over 80.", "The client's blood pressure is 120/80."),
    ("clinician", "For next week, please write down one worry each evening and rate it from one to ten.",
     "For next week, the client is advised to write down one worry each evening and rate it from 1 to 10."),
])
def test_sentences_are_restated_in_the_clinicians_third_person(role: str, sentence: str, expected: str) -> None:
    assert restated(sentence, role) == [expected]


def test_the_clinician_is_named_and_never_mistaken_for_the_client() -> None:
    assert restated("I don't see any fracture on the x-ray.", "clinician") == ["No fracture on the x-ray."]
    assert restated("I recommended an ultrasound last time.", "clinician") == [
        "The clinician recommended an ultrasound last time."]
    assert restated("I know you said to cut back on salt.", "client") == [
        "The client knows the clinician said to cut back on salt."]
    assert restated("When you bend over, it hurts.", "client") is None  # a generic "you" is nobody
    assert restated("I are you still taking the metformin.", "clinician") is None  # a restart


def test_the_transcripts_own_word_for_the_client_and_a_stated_sex_are_used() -> None:
    assert restated("I actually had surgery about ten years ago on my lower back.", "client", PATIENT_HE) == [
        "The patient had surgery about 10 years ago on his lower back."]
    assert referent_for("the client", ["How was your week?"]).subject == "they"  # never guessed


def test_one_fact_per_statement_a_sentence_of_two_plans_becomes_two() -> None:
    sentence = ("and I wanna go ahead and prescribe meloxicam 15 milligrams once a day, and I'd like to refer you "
                "to physical therapy to kind of strengthen that area.")
    assert restated(sentence, "clinician", PATIENT_HE) == [
        "Prescribe meloxicam 15 mg once daily.", "Refer the patient to physical therapy to strengthen that area."]


@pytest.mark.parametrize("question, answer, expected", [
    ("Any trouble sleeping?", "No.", "The client denies trouble sleeping."),
    ("Have you had any fever or chills?", "I have not.", "The client denies fever or chills."),
    ("Nausea, vomiting, diarrhea?", "Nope.", "The client denies nausea, vomiting, diarrhea."),
    ("So, you're avoiding the salty foods like we had talked about?", "Yes.",
     "The client is avoiding the salty foods."),
    ("Do you smoke?", "No, not that I know of.", "The client does not smoke."),
])
def test_a_yes_or_no_answer_becomes_one_statement_with_its_question(question: str, answer: str,
                                                                      expected: str) -> None:
    result = restate_answer(question, answer, CLIENT)
    assert result is not None and result.text == expected
    assert check(result.text, [seg(1, "clinician", question), seg(2, "client", answer)]).supported


def test_an_answer_that_says_more_than_yes_or_no_is_not_turned_into_one() -> None:
    assert answer_polarity("No, I sleep fine.") is None
    assert answer_polarity("I'm not sure.") is None
    assert restate_answer("Any chest pain?", "Only when I run.", CLIENT) is None


@pytest.mark.parametrize("role, sentence", [
    ("client", "You should have my full list in your notes, though."),  # "you": whose?
    ("client", "So, over the weekend, we've been moving boxes up and down our basement stairs."),  # "we"
    ("clinician", "I hurt myself skiing once too."),  # the clinician about themself
])
def test_no_rule_no_restatement(role: str, sentence: str) -> None:
    assert restated(sentence, role) is None


def test_talk_that_steers_the_session_or_commands_a_voice_assistant_is_no_statement() -> None:
    assert restated("Hey Dragon, show me the vital signs.", "clinician") == []
    assert restated("So, let's just talk a little bit about my assessment and plan.", "clinician") == []
    assert restated("Hey, Dragon, order a hemoglobin A1c.", "clinician") == ["Order a hemoglobin A1c."]


def test_a_clients_no_before_a_symptom_is_never_dropped() -> None:
    assert restated("No shortness of breath.", "client") == ["The client reports no shortness of breath."]
    assert restated("No, I've been sleeping like a log.", "client") == ["The client has been sleeping like a log."]


def test_written_forms_keep_numbers_and_doses_exact() -> None:
    assert written("nothing more than five pounds") == "nothing more than 5 pounds"
    assert written("one thousand") == "one thousand"  # no count after it: left as said
    assert written("twenty-five minutes a day") == "25 minutes a day"
    assert written("metformin 1,000 milligrams twice a day") == "metformin 1,000 mg twice daily"
    assert written("a 2 out of 6 murmur, you know") == "a 2/6 murmur"
    assert written("what kind of pain") == "what kind of pain"  # the noun, not the hedge
    assert written("amoxicillin five hundred milligrams three times a day") == "amoxicillin 500 mg 3 times daily"
    assert written("i heard that i heard that you are sick") == "i heard that you are sick"  # a restart


# -- the evidence check reads legitimate rewrites, and still refuses flips and other numbers --------------

REWRITES = [
    ("The patient took some Tylenol.", ["i took some tylenol."]),
    ("The patient reports taking ibuprofen.", ["i took some ibuprofen."]),
    ("He has gained 5 pounds over the summer.", ["i have gained five pounds over the summer."]),
    ("Increase the patient's metformin to 1,000 mg twice daily.",
     ["i would like to increase your metformin to 1,000 milligrams twice a day."]),
    ("The patient is going to need a ride home.", ["you're gonna need a ride home."]),
    ("The patient did not get the booster.", ["no, i didn't get the booster."]),
    ("Start amoxicillin 500 mg.", ["i'll start you on amoxicillin five hundred milligrams."]),
]
REFUSED = [
    ("He has gained 6 pounds over the summer.", ["i have gained five pounds over the summer."]),
    ("The patient has been on it for 40 days.", ["i've been on it for forty five days."]),
    ("Start amoxicillin 50 mg.", ["i'll start you on amoxicillin five hundred milligrams."]),
    ("The patient got the booster.", ["i didn't get the booster."]),
    ("The patient reports shortness of breath.", ["no shortness of breath"]),
    ("The patient denies chest pain.", ["Any chest pain?", "Yes, when I climb stairs."]),
]


@pytest.mark.parametrize("statement, said", REWRITES)
def test_a_faithful_restatement_is_supported(statement: str, said: list[str]) -> None:
    assert check(statement, [seg(i, "client", t) for i, t in enumerate(said)]).supported


@pytest.mark.parametrize("statement, said", REFUSED)
def test_a_changed_number_or_a_flipped_polarity_is_not(statement: str, said: list[str]) -> None:
    evidence = [seg(i, "clinician" if t.endswith("?") else "client", t) for i, t in enumerate(said)]
    assert not check(statement, evidence).supported


def test_a_restatement_the_check_refuses_is_quoted_instead() -> None:
    said = seg(1, "client", "I have never been to therapy.")
    [unit] = build_units([said], "en")
    wrong = Referent(noun="the client")  # a faulty rule is simulated by a restatement that drops the negation

    class Broken:
        @staticmethod
        def restate(*_: object) -> list[object]:
            from bot.notes.restate import Restated  # noqa: PLC0415

            return [Restated("The client has been to therapy.", True)]

    import bot.notes.statements as statements  # noqa: PLC0415

    original = statements.restate
    statements.restate = Broken.restate  # type: ignore[assignment]
    try:
        [drafted] = draft(unit, wrong, "en")
    finally:
        statements.restate = original  # type: ignore[assignment]
    assert drafted.kind == "quoted" and "\u201c" in drafted.statement.text
    assert check(drafted.statement.text, [said]).supported


# -- unpunctuated transcripts ---------------------------------------------------------------------------


def test_a_turn_without_punctuation_is_cut_into_sentences_without_changing_a_word() -> None:
    turn = ("okay so your blood pressure is a little high today i'm gonna start you on lisinopril ten milligrams "
            "and we'll see you back in two weeks do you have any questions")
    pieces = split(turn)
    assert len(pieces) >= 3 and pieces[-1] == "do you have any questions?"
    assert " ".join(p.rstrip(".?") for p in pieces).split() == turn.split()
    assert split("No, I sleep fine.") == ["No, I sleep fine."]  # punctuated: untouched
    assert split("no i had diarrhea last week") == ["no, i had diarrhea last week"]  # the answer's comma
    assert split("okay so have you noticed any nausea") == ["okay so have you noticed any nausea?"]
    exam = split("on your neck exam there is no lymphadenopathy on your lung exam your lungs are clear "
                 "and on your heart exam there is no murmur")
    assert exam == ["on your neck exam there is no lymphadenopathy.", "on your lung exam your lungs are clear.",
                    "and on your heart exam there is no murmur."]


def test_a_negation_in_an_unpunctuated_turn_ends_with_its_clause_in_the_check() -> None:
    turn = seg(1, "client", "i don't smoke anymore i'm taking my medications every day now and i walk a lot")
    assert check("The client is taking their medications every day.", [turn]).supported
    assert not check("The client smokes.", [turn]).supported


# -- merging, pronouns, length ----------------------------------------------------------------------------


class _Item:
    def __init__(self, text: str, order: int, segment: Segment) -> None:
        self.statement = Statement(text, (Evidence.of(segment),))
        self.order = order


def test_statements_saying_the_same_fact_are_merged_citing_every_segment() -> None:
    a, b = seg(1, "clinician", "x"), seg(2, "clinician", "y")
    out = merged([(_Item("Prescribe meloxicam 15 mg once daily.", 1, a), 0.2),
                  (_Item("Order meloxicam 15 mg once daily.", 2, b), 0.5)])
    assert len(out) == 1
    statement, order, salience = out[0]
    assert [e.segment_id for e in statement.evidence] == ["S1", "S2"] and order == 1 and salience == 0.5


def test_after_a_section_names_the_client_it_says_he_or_she_never_they() -> None:
    e = (Evidence("S1", 0.0, 1.0, "Sam"),)
    texts = [s.text for s in pronouns([Statement("The patient took some Tylenol.", e),
                                       Statement("The patient's back is sore.", e)], PATIENT_HE)]
    assert texts == ["The patient took some Tylenol.", "His back is sore."]
    unknown = [Statement("The client took a walk.", e), Statement("The client slept well.", e)]
    assert [s.text for s in pronouns(unknown, CLIENT)] == [s.text for s in unknown]


def test_the_length_budget_keeps_the_most_salient_and_never_cuts_a_short_session() -> None:
    assert note_budget(300) == NOTE_MIN_WORDS and note_budget(3000, 0.3) == 900 and note_budget(10, None) is None
    e = (Evidence("S1", 0.0, 1.0, "Sam"),)
    items = [Candidate(Statement("word " * 10, e), 0, i, float(i)) for i in range(5)]
    kept = within_budget(items, 25)
    assert [c.order for c in kept] == [3, 4]
    two_facts = [Candidate(Statement("second", e), 0, 7, 0.9, 1), Candidate(Statement("first", e), 0, 7, 0.1, 0)]
    assert [c.statement.text for c in within_budget(two_facts, 25)] == ["first", "second"]  # as they were said


def test_the_packaged_salience_model_is_the_one_its_provenance_describes() -> None:
    model = load_salience()
    assert model is not None
    provenance = json.loads(MODEL_PATH.with_suffix(".json").read_text(encoding="utf-8"))
    assert provenance["sha256"] == file_sha256(MODEL_PATH)
    assert "train" in provenance["data"] and "valid.csv → reported only" in provenance["data"]
    assert model.length_ratio == provenance["length_ratio"] and 0.2 <= model.length_ratio <= 0.5
    assert np.isfinite(model.model.weights).all()


def test_a_therapy_session_is_drafted_in_clinician_style_with_few_quotes() -> None:
    segments = [
        seg(1, "clinician", "Hi Sam, how was your week?"),
        seg(2, "client", "Um, I have been sleeping better this week."),
        seg(3, "client", "I had two panic attacks at work on Tuesday."),
        seg(4, "clinician", "It sounds like the breathing exercise is helping."),
        seg(5, "clinician", "For homework, I'd like you to practise the breathing exercise every night."),
        seg(6, "client", "Okay, I will try that."),
    ]
    facts = SessionFacts("s", "2026-11-23T10:00:00+00:00", 60.0, "en", (
        {"id": "p1", "display_name": "Dr. Lee", "role": "clinician"}, {"id": "p2", "display_name": "Sam", "role": "client"}))
    for generator in (StructuredNoteGenerator(), StructuredNoteGenerator(embedder=TfidfEmbedder())):
        note = generator.generate(segments, facts, "progress", frozenset({"notes"}))
        texts = [st.text for section in note.sections for st in section.statements]
        assert "The client had 2 panic attacks at work on Tuesday." in texts or not any("panic" in t for t in texts)
        assert not any("\u201c" in t for t in texts), texts
        by_id = {s.id: s for s in segments}
        for section in note.sections:
            for st in section.statements:
                assert check(st.text, [by_id[e.segment_id] for e in st.evidence]).supported


def test_units_keep_the_segments_they_cite() -> None:
    segments = [seg(1, "clinician", "Any chest pain?"), seg(2, "client", "No.")]
    [unit] = build_units(segments, "en")
    assert isinstance(unit, Unit) and [s.id for s in unit.segments] == ["S1", "S2"]
    assert shift("I love it", "client", CLIENT) == ("the client loves it", True)


def test_with_risk_flags_a_clients_sentence_is_embedded_once_for_the_risk_signal_and_the_note() -> None:
    from collections import Counter  # noqa: PLC0415

    from tests.unit.test_notes_structured import _e5_or_skip  # noqa: PLC0415

    base = _e5_or_skip()
    embedded: Counter[str] = Counter()

    class Counting:
        name, min_similarity, margin, centre = base.name, base.min_similarity, base.margin, base.centre

        def embed(self, texts):  # type: ignore[no-untyped-def]
            embedded.update(texts)
            return base.embed(texts)

        def cost(self, texts):  # type: ignore[no-untyped-def]
            return base.cost(texts)

    segments = [seg(1, "clinician", "How have you been sleeping since our last session?"),
                seg(2, "client", "I have been sleeping better, about six hours a night."),
                seg(3, "client", "Work has been stressful and I argue with my sister a lot."),
                seg(4, "clinician", "For homework, I'd like you to keep a sleep diary.")]
    facts = SessionFacts("s", "2026-11-23T10:00:00+00:00", 60.0, "en", (
        {"id": "p1", "display_name": "Dr. Lee", "role": "clinician"}, {"id": "p2", "display_name": "Sam", "role": "client"}))
    note = StructuredNoteGenerator(embedder=Counting()).generate(  # type: ignore[arg-type]
        segments, facts, "progress", frozenset({"notes", "risk_flags"}))
    said = [t for t in embedded if any(t in s.text for s in segments)]
    assert said and all(embedded[t] == 1 for t in said), embedded
    assert note.risk_flags is not None
