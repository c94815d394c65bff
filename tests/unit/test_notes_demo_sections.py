"""Therapy-style placement on the demo's own dialogue, with the default (`progress`) template.

ACI-BENCH, which the learned section model is trained on, is medical visits; this check keeps the
placement of therapy content (homework, a coping exercise and its effect, a sleep change) honest."""

from __future__ import annotations

import pytest

from bot.demo.script import ENGLISH
from bot.notes.base import SessionFacts
from bot.notes.structured import StructuredNoteGenerator
from bot.transcribe.segment import Segment


def _demo_segments() -> list[Segment]:
    names = {"clinician": ("p1", "Dr. Rivera"), "client": ("p2", "Sam")}
    return [Segment(f"S{i}", "demo", names[line.role][0], names[line.role][1], line.role, i * 6.0, i * 6.0 + 5.0,
                    line.text, "en", 0.9) for i, line in enumerate(ENGLISH.lines)]


@pytest.fixture(scope="module")
def sections() -> dict[str, list[str]]:
    segments = _demo_segments()
    facts = SessionFacts("demo", "2026-11-23T10:00:00+00:00", 60.0, "en", (
        {"id": "p1", "display_name": "Dr. Rivera", "role": "clinician"},
        {"id": "p2", "display_name": "Sam", "role": "client"}))
    note = StructuredNoteGenerator().generate(segments, facts, "progress", frozenset({"notes"}))
    by_id = {s.id: s.text for s in segments}
    return {section.title: [by_id[e.segment_id] for st in section.statements for e in st.evidence]
            for section in note.sections}


def _where(sections: dict[str, list[str]], fragment: str) -> set[str]:
    return {title for title, cited in sections.items() if any(fragment in text for text in cited)}


def test_homework_is_under_plan(sections: dict[str, list[str]]) -> None:
    assert _where(sections, "write down one worry") == {"Plan"}


def test_coping_exercise_and_its_effect_are_under_progress(sections: dict[str, list[str]]) -> None:
    assert "Progress toward goals" in _where(sections, "breathing exercise twice")
    assert "Plan" not in _where(sections, "breathing exercise twice")


def test_sleep_change_is_under_the_client_report(sections: dict[str, list[str]]) -> None:
    assert _where(sections, "I go to bed at eleven") == {"Session focus and client report"}
