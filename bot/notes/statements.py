"""From placed units to the note's statements: clinician-style where a rule is faithful, quoted otherwise.

English units are restated (`bot.notes.restate`): third person, one fact per statement, written
forms. Each restated sentence must pass the evidence check (`bot.notes.evidence.check`, every
word counted, polarity-aware) against the segments it cites before it is used; one that does not
— a rule that went wrong — is quoted verbatim instead, so the note never says more than was said.
Other languages keep the older rewrite (`bot.notes.condense`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.notes.base import Evidence, Statement
from bot.notes.condense import condense, render_pieces
from bot.notes.evidence import check
from bot.notes.person import Referent, referent_for
from bot.notes.phrases import phrases
from bot.notes.restate import restate, restate_answer
from bot.notes.units import Unit
from bot.transcribe.segment import Segment

# Speaker labels under which a transcript calls the client a patient (ACI-BENCH's "[patient]").
_PATIENT_LABELS = frozenset({"patient", "the patient", "paciente"})


@dataclass(frozen=True)
class Drafted:
    """A statement and how it was made: "restated", "quoted" (no faithful rule, or the check refused it)."""

    statement: Statement
    kind: str
    order: int  # the unit's position in the transcript


def referent(segments: Sequence[Segment], language: str) -> Referent:
    """How this note names the client: "the patient" where the transcript labels them so, else "the client";
    he or she only where the clinician said which."""
    p = phrases(language)
    labelled = any(s.role == "client" and s.display_name.strip().lower() in _PATIENT_LABELS for s in segments)
    noun = p.get("noun_patient" if labelled else "noun_client", "the client")
    return referent_for(noun, [s.text for s in segments if s.role == "clinician"])


def who(segment: Segment, language: str) -> str:
    p = phrases(language)
    if segment.role in ("clinician", "client"):
        return p[segment.role]
    return f"{p['participant']} ({segment.display_name})"


def _quoted(unit: Unit, language: str) -> Statement:
    p = phrases(language)
    speaker = who(unit.segment, language)
    evidence = tuple(Evidence.of(s) for s in unit.segments)
    if unit.question is not None:
        asked = speaker.lower() if unit.segment.role else speaker
        return Statement(p["answered"].format(question=unit.question_text, who=asked, text=unit.sentence), evidence)
    return Statement(p["said"].format(who=speaker, text=unit.sentence.strip()), evidence)


def draft(unit: Unit, person: Referent, language: str) -> list[Drafted]:
    """The statements one unit becomes (none for steering talk); English only (others: `legacy`)."""
    evidence = tuple(Evidence.of(s) for s in unit.segments)
    if unit.question is not None:
        answer = restate_answer(unit.question_text, unit.sentence, person)
        restated = [answer] if answer is not None else None
    else:
        restated = restate(unit.sentence, unit.segment.role, person)
    if restated is not None and all(check(r.text, unit.segments).supported for r in restated):
        return [Drafted(Statement(r.text, evidence), "restated", unit.order) for r in restated]
    return [Drafted(_quoted(unit, language), "quoted", unit.order)]


def legacy(group: Sequence[Unit], language: str) -> Statement:
    """Adjacent units of one speaker as one statement, rewritten only by `condense` (languages without
    clinician-style rules)."""
    first = group[0]
    evidence = tuple(dict.fromkeys(Evidence.of(s) for u in group for s in u.segments))
    if first.question is not None:
        return Statement(_quoted(first, language).text, evidence)
    rewrite_language = language if (first.segment.language or language) == language else "xx"
    pieces = condense([u.sentence for u in group], first.segment.role, rewrite_language)
    return Statement(render_pieces(pieces, who(first.segment, language), language), evidence)
