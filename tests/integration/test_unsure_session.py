"""Asking when unsure through the real SessionRunner (ScriptedConnector, the fake call of
tests/integration/scripted_call.py; speech, VAD, tiny.en, consent checks, journal and notes real):
a yes stops and keeps nothing, a no carries on and keeps what was held."""

from __future__ import annotations

import json

import pytest

from bot.session import State
from tests.integration.conftest import wait_for
from tests.integration.test_consent_invariants import SMALL_TALK, SMALL_TALK_WORDS, assert_nothing_kept, call  # noqa: F401
from tests.speech_checks import heard

pytestmark = pytest.mark.slow

# Names its target with a word tiny.en hears reliably in espeak-ng's voice: with "assistant" it
# sometimes heard "assistance", which names nothing, so nothing was asked (CI, 2026-12-03). Doubtful
# to the head in use: "I am not sure the recording should include this part." scored 0.996 before the
# head learned heard versions and 0.9999 after (a hedged objection: it stops outright, nothing asked);
# this one scores 0.88-0.97 as typed and as tiny.en may punctuate it (2026-12-07).
DOUBTFUL = "I am not sure the recording is a good idea."
# As the recognizer hears it, the doubtful sentence may score anywhere below certainty: a wide band.
WIDE_BAND = {"ask_threshold": 0.05, "semantic_threshold": 0.999}


async def ask_sam(c) -> None:  # noqa: ANN001 - the Call of test_consent_invariants
    c.connector.add("p1", "Sam")
    await c.admitted("p1")
    await c.connector.say("p1", SMALL_TALK)
    await wait_for(lambda: len(c.runner.buffer) == 1)
    await c.connector.say("p1", DOUBTFUL)
    await wait_for(lambda: any("leave" in line and "yes" in line for line in c.connector.chat), timeout=60)
    assert c.runner.audit.unsure_questions[0].outcome is None
    assert len(c.runner.buffer) == 1  # the doubtful words are held, not kept


async def test_a_yes_to_the_question_stops_and_keeps_nothing(call) -> None:  # noqa: F811
    c = call(consent=WIDE_BAND)
    await ask_sam(c)
    await c.connector.say("p1", "Yes, please.")
    audit = assert_nothing_kept(c, await c.result(), *SMALL_TALK_WORDS, "idea")
    [question] = audit["unsure_questions"]
    assert (question["outcome"], question["answered_by"], question["delivered"]) == ("stopped", "speech", True)
    assert audit["objection"]["source"] == "unsure_question" and audit["objection"]["participant_id"] == "p1"
    assert c.connector.chat[-1].endswith("kept nothing from this session.")


async def test_a_no_carries_on_and_keeps_the_doubtful_words(call) -> None:  # noqa: F811
    c = call(consent=WIDE_BAND)
    await ask_sam(c)
    await c.connector.say("p1", "No, carry on.")
    await wait_for(lambda: c.runner.audit.unsure_questions[0].outcome is not None, timeout=60)
    await c.connector.say("p1", "We walked to the library after lunch.")
    await wait_for(lambda: len(c.runner.buffer) >= 4, timeout=60)
    c.connector.leaves("p1")
    result = await c.result()
    assert result.state == State.DONE and result.note_json is not None
    text = " ".join(s.text for s in result.segments)
    assert heard("pancakes", text) and heard("idea", text) and heard("library", text)
    audit = json.loads(result.audit.read_text())
    [question] = audit["unsure_questions"]
    assert (question["outcome"], question["answered_by"]) == ("carried on", "speech")
    assert audit["objection"] is None
