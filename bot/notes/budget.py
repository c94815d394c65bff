"""How long a note is: about as long as a clinician's note for the same amount of talk.

Clinicians' notes are a fraction of what was said (ACI-BENCH's training notes: a third of the
dialogue's words, median). A draft that keeps every sentence a section accepts is twice that
and buries what matters; so the note keeps its most salient statements — those the section
model finds most likely to be in a clinician's note — up to `ratio` × the transcript's words,
never fewer than `floor` words (a short session keeps everything it has). The ratio is chosen
on ACI-BENCH's training split (`python -m bot.notes.train_salience`), never on validation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.notes.base import Statement

# Chosen on the training split (see `bot.notes.train_salience`); a short session is never cut.
NOTE_LENGTH_RATIO = 0.31
NOTE_MIN_WORDS = 250


@dataclass(frozen=True)
class Candidate:
    statement: Statement
    section: int
    order: int  # position in the transcript
    salience: float  # higher: more likely to be in a clinician's note
    sequence: int = 0  # among the statements one unit became, in the order it said them


def words_in(statement: Statement) -> int:
    return len(statement.text.split())


def note_budget(transcript_words: int, ratio: float | None = NOTE_LENGTH_RATIO, floor: int = NOTE_MIN_WORDS) -> int | None:
    """The note's word budget; None (no limit) when `ratio` is None or infinite."""
    if ratio is None or math.isinf(ratio):
        return None
    return max(floor, round(ratio * transcript_words))


def within_budget(candidates: Sequence[Candidate], budget: int | None) -> list[Candidate]:
    """The most salient candidates whose words fit `budget`, in transcript order (all of them without a budget)."""
    if budget is None:
        return sorted(candidates, key=lambda c: (c.order, c.section, c.sequence))
    kept: list[Candidate] = []
    spent = 0
    for candidate in sorted(candidates, key=lambda c: (-c.salience, c.order)):
        cost = words_in(candidate.statement)
        if spent + cost <= budget:
            kept.append(candidate)
            spent += cost
    return sorted(kept, key=lambda c: (c.order, c.section, c.sequence))
