"""The first, deliberately simple note generator.

It invents nothing: each statement is what a participant said, attributed and
cited with the segment it comes from, grouped by speaker in the order spoken.
Short consecutive segments of one speaker are joined into one statement that
cites all of them. (The structured SOAP/DAP/BIRP generator replaces this.)
"""

from __future__ import annotations

from pathlib import Path

from bot.resources import RISK_DIR
from bot.notes.base import Evidence, Note, Section, SessionFacts, Statement
from bot.notes.risk import RiskFlagger
from bot.transcribe.segment import Segment

DEFAULT_RISK_DIR = RISK_DIR
RISK_TITLE = "Risk language mentioned (flags for clinician review; not an assessment)"

MERGE_GAP_S = 1.5
ROLE_TITLES = {"clinician": "Clinician", "client": "Client"}
SIGNALS = {"lexicon": "lexicon match", "semantic": "similar to risk examples"}


class SimpleNoteGenerator:
    def __init__(self, risk_lexicons: Path = DEFAULT_RISK_DIR) -> None:
        self._risk = RiskFlagger(risk_lexicons)

    def generate(
        self, segments: list[Segment], facts: SessionFacts, template: str = "simple",
        purposes: frozenset[str] = frozenset({"notes"}),
    ) -> Note:
        ordered = sorted(segments, key=lambda s: (s.start, s.id))
        groups: list[list[Segment]] = []
        for segment in ordered:
            previous = groups[-1][-1] if groups else None
            if previous and previous.participant_id == segment.participant_id and segment.start - previous.end <= MERGE_GAP_S:
                groups[-1].append(segment)
            else:
                groups.append([segment])
        by_speaker: dict[str, list[Statement]] = {}
        titles: dict[str, str] = {}
        for group in groups:
            first = group[0]
            role = ROLE_TITLES.get(first.role or "", "Participant")
            titles[first.participant_id] = f"{role}: {first.display_name}"
            quote = " ".join(s.text.strip() for s in group)
            by_speaker.setdefault(first.participant_id, []).append(
                Statement(text=f"{first.display_name} said: \u201c{quote}\u201d", evidence=tuple(Evidence.of(s) for s in group))
            )
        sections = [Section(title=f"What was said — {titles[pid]}", statements=tuple(sts)) for pid, sts in by_speaker.items()]
        if not sections:
            sections = [Section(title="What was said", statements=())]
        flags = None
        if "risk_flags" in purposes:
            flags = tuple(self._risk.flags(ordered, facts.language))
            by_id = {s.id: s for s in ordered}
            sections.insert(0, Section(
                title=RISK_TITLE,
                statements=tuple(
                    Statement(f"{f.label} ({SIGNALS[f.signal]}): {f.speaker} said \u201c{f.quote}\u201d",
                              (Evidence.of(by_id[f.segment_id]),))
                    for f in flags
                ),
                empty_text="No risk language was found by the lexicon or the risk examples. This is not an assessment.",
            ))
        return Note(template=template, facts=facts, sections=tuple(sections), transcript=tuple(ordered),
                    risk_flags=flags, purposes=tuple(sorted(purposes)))
