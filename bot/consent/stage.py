"""The consent stage: what every piece of a participant's speech and chat passes through.

A final utterance is first checked for an objection (off the event loop), and
only then kept, and only if its speaker had heard their announcement in full
(and agreed, where the clinic asks at join time) before they began, and no
pause covered it. Partials are checked, then shown under the same rule, never
stored. Text the recognizer doubted, chat, and the page's leave button are
checked too. Speech that could not be transcribed is recorded as missing.
When an utterance may be an objection but is not surely one, the stage asks its
speaker whether the assistant should leave, and holds what they say until the
answer (bot/consent/unsure.py).

The stage decides; the session acts on the ConsentEvents it is handed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from bot.consent.admission import PRE_ROLL_S, Admissions
from bot.consent.audit import AuditRecord, JoinAnswer, UnsureQuestion, Untranscribed, now_utc
from bot.consent.guard import ConsentEvent, ConsentGuard
from bot.consent.unsure import NOT_KEPT, AnswerRules, OpenQuestion, Questions
from bot.log import get_logger
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.segment import Participant
from bot.transcribe.stream import Heard

log = get_logger(__name__)

Act = Callable[[ConsentEvent], None]
Spawn = Callable[[Coroutine[Any, Any, Any]], None]
Progress = Callable[[str, dict[str, object]], None]
AskConsent = Callable[[str, set[str]], Coroutine[Any, Any, bool]]
AskUnsure = Callable[[Participant], Coroutine[Any, Any, bool]]  # put the question to them; whether it reached them


class ConsentStage:
    def __init__(
        self, guard: ConsentGuard, buffer: TranscriptBuffer, audit: AuditRecord, *,
        clock: Callable[[], float], act: Act, spawn: Spawn, progress: Progress,
        known: dict[str, Participant], objected: Callable[[], bool], language: str,
        ask_unsure: AskUnsure | None = None,
    ) -> None:
        self.guard = guard
        self.buffer = buffer
        self.audit = audit
        self.admissions = Admissions()
        self._clock = clock
        self._session_act = act
        self._spawn = spawn
        self._progress = progress
        self._known_by_id = known  # as the platform authenticated them (roles included)
        self._objected = objected
        self._language = language
        self._ask_unsure = ask_unsure if guard.settings.ask_when_unsure else None
        self.questions = Questions(guard.settings.ask_every_min * 60)
        self._rules = AnswerRules(guard.announcements)

    # -- speech ------------------------------------------------------------------

    async def final(self, heard: Heard) -> bool:
        """Check a final, then keep it unless consent says otherwise; returns whether it was kept."""
        p = self._known(heard.participant)
        event = await self.guard.check_speech(p, heard.text, heard.language, heard.end,
                                              utterance_start_s=heard.start, cut=heard.cut)
        if event is not None and event.action != "ask":
            self._act(event)
        if self._objected():
            return False
        question = self.questions.open.get(p.id)
        if question is not None:
            if not self._can_answer(question, heard.start):
                question.held.append(heard)  # began before the question was put: held with the rest
            elif self._rules.is_echo(heard.text):
                log.info("unsure_question_echo_dropped", participant_id=p.id)  # the assistant's own words
            else:
                self._answer(question, heard.text, "speech", heard.end)
                return self._keep(p, heard)
            return False
        if event is not None and event.action == "ask" and self._open(p, "speech", heard):
            return False
        return self._keep(p, heard)

    def _keep(self, p: Participant, heard: Heard) -> bool:
        if self._objected():
            return False
        if self.paused_during(heard.start, heard.end):
            log.info("speech_held", participant_id=p.id, reason="paused by clinician")
            return False
        if not self.admissions.admits(p.id, heard.start):
            self.admissions.hold(p.id)
            self.audit.held_utterances[p.id] = self.audit.held_utterances.get(p.id, 0) + 1
            log.info("speech_held", participant_id=p.id, reason="consent not yet applied")
            return False
        self.buffer.append(p, heard.start, heard.end, heard.text, heard.language, heard.confidence)
        return True

    def partial(self, participant: Participant, text: str, language: str, start: float, end: float) -> None:
        async def check_then_show() -> None:
            event = await self.guard.check_speech(self._known(participant), text, language, end, complete=False)
            if event is not None:
                self._act(event)
            elif not self._objected() and self.admissions.admits(participant.id, start) \
                    and not self.paused_during(start, end) and participant.id not in self.questions.open:
                self._progress("partial", {"participant": participant, "text": text, "start": start, "end": end})
        self._spawn(check_then_show())

    def unsure(self, participant: Participant, text: str, language: str, start: float, end: float) -> None:
        """Text the recognizer doubted or dropped: never kept or shown, but an objection in it counts,
        and so does a "yes" to an open question (a short "Yes." is under the VAD minimum). Anything
        else is not taken as the answer: a draft may be redone, and the final decides."""
        p = self._known(participant)

        async def check() -> None:
            event = await self.guard.check_speech(p, text, language, end, complete=False)
            if event is not None and event.action != "ask":
                self._act(event)
            question = self.questions.open.get(p.id)
            if question is not None and not self._objected() and self._can_answer(question, start) \
                    and not self._rules.is_echo(text) and self._rules.means_leave(text):
                self._answer(question, text, "speech", end)
        self._spawn(check())

    def lost(self, participant: Participant, start: float, end: float, reason: str) -> None:
        log.warning("speech_untranscribed", participant_id=participant.id, reason=reason,
                    audio_s=round(end - start, 2))
        self.audit.untranscribed.append(Untranscribed(participant.id, round(start, 2), round(end, 2), reason))

    def paused_during(self, start_s: float, end_s: float) -> bool:
        """While paused, speech is still checked for an objection, but none of it is kept. (An
        utterance's start includes the VAD's pre-roll: its speech began up to that much later.)"""
        speech_from = start_s + PRE_ROLL_S
        return any(p.paused_at_s <= end_s and (p.resumed_at_s is None or p.resumed_at_s > speech_from)
                   for p in self.audit.pauses)

    # -- chat, the leave button, the join-time question -------------------------------

    def text(self, participant: Participant, text: str) -> None:
        p = self._known(participant)

        async def check() -> None:
            event = await self.guard.check_text(p, text, self._clock())
            if event is not None and event.action != "ask":
                self._act(event)
            if self._objected() or (event is not None and event.source == "clinician_command"):
                return
            question = self.questions.open.get(p.id)
            if question is not None:
                self._answer(question, text, "text", None)
            elif event is not None and event.action == "ask":
                self._open(p, "text", None)
        self._spawn(check())

    def leave_requested(self, participant: Participant) -> None:
        self._act(ConsentEvent("objection", self._known(participant), "button", self._language))

    async def ask(self, participant: Participant, question: str | None, ask: AskConsent) -> None:
        asked = question is not None and await ask(question, {participant.id})
        self.audit.join_answers.append(JoinAnswer(participant.id, participant.display_name, asked,
                                                  round(self._clock(), 2)))
        self.admissions.by_id[participant.id].must_answer = asked
        if not asked:
            log.warning("consent_question_not_asked", participant_id=participant.id,
                        reason="no question text" if question is None else "the platform cannot ask")

    def answered(self, participant: Participant, agreed: bool) -> None:
        log.info("consent_answered", participant_id=participant.id, agreed=agreed)
        answer = next((a for a in reversed(self.audit.join_answers) if a.participant_id == participant.id), None)
        if answer is not None and answer.agreed is None:
            answer.agreed, answer.answered_at_s = agreed, round(self._clock(), 2)
        if agreed:
            self.admissions.agreed(participant.id, self._clock())
        else:
            self._act(ConsentEvent("objection", self._known(participant), "join_question", self._language,
                                   "declined at join"))

    # -- asking when unsure ------------------------------------------------------------

    def _open(self, p: Participant, raised_by: str, trigger: Heard | None) -> bool:
        """Ask `p` whether the assistant should leave; False where it may not ask now."""
        now = self._clock()
        if self._ask_unsure is None or not self.questions.may_ask(p.id, now):
            return False
        record = UnsureQuestion(p.id, round(now, 2), now_utc(), raised_by)
        self.audit.unsure_questions.append(record)
        question = OpenQuestion(p, record, trigger)
        self.questions.opened(question)
        self.guard.context.awaiting_answer(p.id, True)
        question.timer = asyncio.ensure_future(self._expire(question))
        log.info("unsure_question_asked", participant_id=p.id, raised_by=raised_by)
        self._spawn(self._deliver(question))
        return True

    async def _deliver(self, question: OpenQuestion) -> None:
        assert self._ask_unsure is not None
        try:
            delivered = await self._ask_unsure(question.participant)
        except Exception as exc:  # noqa: BLE001 - a question that could not be put is not an answer
            log.warning("unsure_question_failed", participant_id=question.participant.id, error=type(exc).__name__)
            delivered = False
        question.record.delivered = delivered
        if not delivered and self.questions.open.get(question.participant.id) is question:
            self._resolve(question, "not asked", None)  # as if never asked: what was held is kept

    async def _expire(self, question: OpenQuestion) -> None:
        await asyncio.sleep(self.guard.settings.ask_window_s)
        if self.questions.open.get(question.participant.id) is question and not self._objected():
            self._resolve(question, "no answer", None)

    def _can_answer(self, question: OpenQuestion, start_s: float) -> bool:
        """Whether speech that began at start_s came after the question was put."""
        return start_s + PRE_ROLL_S >= question.record.asked_at_s

    def _answer(self, question: OpenQuestion, text: str, by: str, end_s: float | None) -> None:
        if self._objected():
            return
        if self._rules.means_leave(text):
            log.info("unsure_question_answered", participant_id=question.participant.id, leave=True, by=by)
            question.record.answered_by = by
            self._act(ConsentEvent("objection", question.participant, "unsure_question", self._language,
                                   "answered yes when asked", end_s))
            return
        log.info("unsure_question_answered", participant_id=question.participant.id, leave=False, by=by)
        self._resolve(question, "carried on", by)

    def _resolve(self, question: OpenQuestion, outcome: str, by: str | None) -> None:
        if self.questions.close(question.participant.id) is not question:
            return
        self.guard.context.awaiting_answer(question.participant.id, False)
        record = question.record
        record.outcome, record.resolved_at_s = outcome, round(self._clock(), 2)
        record.answered_by = record.answered_by or by
        if outcome == "stopped":
            return
        trigger = question.trigger
        if trigger is not None and outcome in ("carried on", "not asked"):
            self._keep(question.participant, trigger)
        elif trigger is not None:
            self.audit.untranscribed.append(Untranscribed(question.participant.id, round(trigger.start, 2),
                                                          round(trigger.end, 2), NOT_KEPT))
        for heard in question.held:
            self._keep(question.participant, heard)

    def end_questions(self) -> None:
        """The session is ending: no answer can come now (call after the last utterances were checked)."""
        for question in list(self.questions.open.values()):
            self._resolve(question, "session ended", None)

    def _act(self, event: ConsentEvent) -> None:
        self._session_act(event)
        if event.action == "objection" and self._objected():
            for question in list(self.questions.open.values()):
                mine = question.participant.id == event.participant.id
                question.record.answered_by = question.record.answered_by or (event.source if mine else "objection")
                self._resolve(question, "stopped", None)

    def _known(self, participant: Participant) -> Participant:
        return self._known_by_id.get(participant.id, participant)
