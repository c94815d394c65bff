"""Composing the note's sections from placed units: draft, merge, rank, fit the length budget.

1. Every placed unit is drafted (`bot.notes.statements`): clinician-style statements, or a quote.
2. Within a section, statements that say the same fact are merged (`bot.notes.merge`).
3. Each statement gets a salience (`bot.notes.salience`, or the section score without the model).
4. The most salient fill the note's word budget (`bot.notes.budget`); they keep transcript order.

The training of the salience model (`bot.notes.train_salience`) composes notes with these same
functions, so what it tunes is what the generator does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.notes.base import Section, Statement
from bot.notes.budget import Candidate, within_budget
from bot.notes.merge import merged
from bot.notes.person import Referent
from bot.notes.phrases import phrases
from bot.notes.salience import LearnedSalience, facts_of, features
from bot.notes.statements import Drafted, draft, legacy
from bot.notes.templates import Template
from bot.notes.units import Unit


@dataclass(frozen=True, eq=False)
class Placed:
    """A unit the classifier put in a section; `vector` is its embedding (None where none was computed)."""

    unit: Unit
    section: int
    score: float
    vector: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Draft:
    drafted: Drafted
    section: int
    placed: Placed

    @property
    def statement(self) -> Statement:
        return self.drafted.statement

    @property
    def order(self) -> int:
        return self.drafted.order


def drafts(placed: Sequence[Placed], language: str, person: Referent) -> list[Draft]:
    """English: each placed unit as its statements (restated or quoted). Units in another language than the
    note's are quoted."""
    out: list[Draft] = []
    for p in placed:
        if (p.unit.segment.language or language) == language:
            out += [Draft(d, p.section, p) for d in draft(p.unit, person, language)]
        else:
            out.append(Draft(Drafted(legacy([p.unit], language), "quoted", p.unit.order), p.section, p))
    return out


def salience(items: Sequence[Draft], model: LearnedSalience | None, n_units: int) -> np.ndarray:
    """Per draft: the learned salience where the model and every vector are there, else the section score."""
    if model is None or not items or any(d.placed.vector is None for d in items):
        return np.array([d.placed.score for d in items], dtype=np.float32)
    vectors = np.stack([d.placed.vector for d in items])  # type: ignore[misc]
    facts = [facts_of(d.statement.text, d.placed.unit.segment.role, d.placed.unit.question is not None,
                      d.drafted.kind == "quoted", d.order / max(n_units - 1, 1)) for d in items]
    return model.model.predict(features(vectors, facts, model.model.prior))


def sections(spec: Template, items: Sequence[Draft], scores: np.ndarray, budget: int | None, language: str,
             person: Referent) -> list[Section]:
    """Merge each section's statements of one fact, keep the most salient within `budget`, build the sections."""
    candidates: list[Candidate] = []
    for k in range(len(spec.sections)):
        mine = [(d, float(scores[i])) for i, d in enumerate(items) if d.section == k]
        candidates += [Candidate(statement, k, order, s, len(candidates) + j)
                       for j, (statement, order, s) in enumerate(merged(mine))]
    kept = within_budget(candidates, budget)
    empty = phrases(language)["not_discussed"]
    return [Section(title=section.title, statements=pronouns([c.statement for c in kept if c.section == k], person),
                    empty_text=empty) for k, section in enumerate(spec.sections)]


def pronouns(statements: Sequence[Statement], person: Referent) -> tuple[Statement, ...]:
    """After a section has named the client once, its later statements say he or she, as a clinician writes
    ("The patient took ibuprofen. He tried ice."), where the transcript said which; never "they", which
    could be anyone."""
    if person.plural:
        return tuple(statements)
    noun = person.noun[:1].upper() + person.noun[1:]
    subject = person.subject[:1].upper() + person.subject[1:]
    possessive = person.possessive[:1].upper() + person.possessive[1:]
    out: list[Statement] = []
    named = False
    for statement in statements:
        text = statement.text
        if named and text.startswith(noun + "'s "):
            text = possessive + text[len(noun) + 2:]
        elif named and text.startswith(noun + " "):
            text = subject + text[len(noun):]
        named = named or person.noun in statement.text.lower()
        out.append(Statement(text, statement.evidence) if text != statement.text else statement)
    return tuple(out)


def legacy_sections(spec: Template, placed: Sequence[Placed], language: str) -> list[Section]:
    """Languages without clinician-style rules: adjacent units of one speaker become one statement citing
    every segment they come from, rewritten only by `bot.notes.condense`."""
    out = []
    for k, section in enumerate(spec.sections):
        groups: list[list[Placed]] = []
        for p in (p for p in placed if p.section == k):
            last = groups[-1][-1] if groups else None
            if (last is not None and last.unit.order + 1 == p.unit.order and p.unit.question is None
                    and last.unit.question is None
                    and last.unit.segment.participant_id == p.unit.segment.participant_id):
                groups[-1].append(p)
            else:
                groups.append([p])
        out.append(Section(title=section.title, statements=tuple(legacy([p.unit for p in g], language) for g in groups),
                           empty_text=phrases(language)["not_discussed"]))
    return out
