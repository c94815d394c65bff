"""Merging statements that say the same thing: one statement, citing every segment that said it.

A clinician and client often say one fact twice ("I'll prescribe meloxicam 15 mg once a day" and,
to the voice assistant, "order meloxicam 15 mg once a day"). Within a section, a statement whose
content words are (almost) all in an earlier or longer one is folded into it: the longer wording
stays, and its evidence grows by the other's segments. Nothing is reworded, so the kept statement
is still supported by the segments it cited before, and now by more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from bot.notes.base import Statement
from bot.notes.paraphrase import stem_en
from bot.notes.text import content_words

T = TypeVar("T")
# Share of the shorter statement's content words found in the longer one for the two to be one fact.
SAME_FACT = 0.8
_FRAME_WORDS = frozenset({"patient", "client", "reports", "denies", "advised", "impression", "concern", "clinician",
                          "said", "answered", "asked"})


def _content(statement: Statement) -> frozenset[str]:
    return frozenset(stem_en(w) for w in content_words(statement.text, "en") if w not in _FRAME_WORDS)


def same_fact(a: frozenset[str], b: frozenset[str]) -> bool:
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return len(shorter) >= 2 and len(shorter & longer) >= SAME_FACT * len(shorter)


def merged(drafted: Sequence[tuple[T, float]]) -> list[tuple[Statement, int, float]]:
    """`drafted`: (item with `.statement` and `.order`, salience) in transcript order. Each group of
    statements saying the same fact becomes (its longest statement citing all their segments, the position
    of the first, the highest salience of the group)."""
    out: list[tuple[Statement, int, float]] = []
    contents: list[frozenset[str]] = []
    for item, salience in drafted:
        statement: Statement = item.statement  # type: ignore[attr-defined]
        order: int = item.order  # type: ignore[attr-defined]
        content = _content(statement)
        match = next((i for i, c in enumerate(contents) if same_fact(c, content)), None)
        if match is None:
            out.append((statement, order, salience))
            contents.append(content)
            continue
        kept, kept_order, kept_salience = out[match]
        longer = statement if len(content) > len(contents[match]) else kept
        evidence = tuple(dict.fromkeys((*kept.evidence, *statement.evidence)))
        out[match] = (Statement(longer.text, evidence), kept_order, max(salience, kept_salience))
        if longer is statement:
            contents[match] = content
    return out
