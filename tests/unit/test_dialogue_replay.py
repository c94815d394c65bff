"""The replay of clinical dialogues after the announcement (bench consent's false-stop measure)."""

from __future__ import annotations

from bot.bench.dialogue_replay import ANNOUNCEMENT_S, CLIENT, CLINICIAN, keyword_replay, replay, timed_turns
from bot.config import load_settings
from bot.consent.guard import ConsentGuard

SETTINGS = load_settings(None)
# Written for this test, in ACI-BENCH's format.
ORDINARY = """[doctor] hi there , how have you been since the last visit ?
[patient] no .
[doctor] no change at all ? okay .
[patient] not really , the mornings are still hard ."""
OBJECTING = """[doctor] hi there , how have you been since the last visit ?
[patient] honestly , please stop recording this session .
[patient] and stop the transcription too ."""


def rules_guard() -> ConsentGuard:
    return ConsentGuard(SETTINGS.consent.model_copy(update={"semantic_signal": False}),
                        SETTINGS.paths.announcements_dir, "en")


def test_turns_follow_the_announcement_one_after_another_with_their_speakers() -> None:
    turns = timed_turns(ORDINARY)
    assert [t.speaker for t in turns] == [CLINICIAN, CLIENT, CLINICIAN, CLIENT]
    assert turns[0].start_s > ANNOUNCEMENT_S[1]
    assert all(a.end_s < b.start_s for a, b in zip(turns, turns[1:]))
    assert turns[1].end_s - turns[1].start_s < turns[0].end_s - turns[0].start_s  # long turns take longer


def test_answers_to_the_clinician_are_not_stops_and_an_objection_ends_its_dialogue() -> None:
    guard = rules_guard()
    counts = replay(guard, [ORDINARY, OBJECTING, ORDINARY], announce=True)
    assert counts.dialogues == 3 and counts.stopped == 1
    assert counts.turns == 4 + 2 + 4  # the objecting dialogue ended at its first objection
    assert counts.stopped_within_context_s == 1 and sum(counts.stopped_by_kind.values()) == 1
    # The first "no." answers a question that followed the announcement: asked about, in each ordinary dialogue.
    assert counts.asked == 2


def test_the_keyword_baseline_replays_the_same_turns() -> None:
    counts = keyword_replay([ORDINARY, OBJECTING], lambda text: "record" in text, SETTINGS.consent.context_s)
    assert counts.stopped == 1 and counts.turns == 4 + 2
