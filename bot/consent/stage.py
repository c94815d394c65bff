"""The consent stage: what every piece of a participant's speech and chat passes through.

A final utterance is first checked for an objection (off the event loop), and
only then kept, and only if its speaker had heard their announcement in full
(and agreed, where the clinic asks at join time) before they began, and no
pause covered it. Partials are checked, then shown under the same rule, never
stored. Text the recognizer doubted, chat, and the page's leave button are
checked too. Speech that could not be transcribed is recorded as missing.

The stage decides; the session acts on the ConsentEvents it is handed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from bot.consent.admission import PRE_ROLL_S, Admissions
from bot.consent.audit import AuditRecord, JoinAnswer, Untranscribed
from bot.consent.guard import ConsentEvent, ConsentGuard
from bot.log import get_logger
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.segment import Participant
from bot.transcribe.stream import Heard

log = get_logger(__name__)

Act = Callable[[ConsentEvent], None]
Spawn = Callable[[Coroutine[Any, Any, Any]], None]
Progress = Callable[[str, dict[str, object]], None]
AskConsent = Callable[[str, set[str]], Coroutine[Any, Any, bool]]


class ConsentStage:
    def __init__(
        self, guard: ConsentGuard, buffer: TranscriptBuffer, audit: AuditRecord, *,
        clock: Callable[[], float], act: Act, spawn: Spawn, progress: Progress,
        known: dict[str, Participant], objected: Callable[[], bool], language: str,
    ) -> None:
        self.guard = guard
        self.buffer = buffer
        self.audit = audit
        self.admissions = Admissions()
        self._clock = clock
        self._act = act
        self._spawn = spawn
        self._progress = progress
        self._known_by_id = known  # as the platform authenticated them (roles included)
        self._objected = objected
        self._language = language

    # -- speech ------------------------------------------------------------------

    async def final(self, heard: Heard) -> None:
        p = self._known(heard.participant)
        event = await self.guard.check_speech(p, heard.text, heard.language, heard.end)
        if event is not None:
            self._act(event)
        if self._objected():
            return
        if self.paused_during(heard.start, heard.end):
            log.info("speech_held", participant_id=p.id, reason="paused by clinician")
            return
        if not self.admissions.admits(p.id, heard.start):
            self.admissions.hold(p.id)
            self.audit.held_utterances[p.id] = self.audit.held_utterances.get(p.id, 0) + 1
            log.info("speech_held", participant_id=p.id, reason="consent not yet applied")
            return
        self.buffer.append(p, heard.start, heard.end, heard.text, heard.language, heard.confidence)

    def partial(self, participant: Participant, text: str, language: str, start: float, end: float) -> None:
        async def check_then_show() -> None:
            event = await self.guard.check_speech(self._known(participant), text, language, end, complete=False)
            if event is not None:
                self._act(event)
            elif not self._objected() and self.admissions.admits(participant.id, start) \
                    and not self.paused_during(start, end):
                self._progress("partial", {"participant": participant, "text": text, "start": start, "end": end})
        self._spawn(check_then_show())

    def unsure(self, participant: Participant, text: str, language: str, _start: float, end: float) -> None:
        """Text the recognizer doubted or dropped: never kept or shown, but an objection in it counts."""
        self._check(self.guard.check_speech(self._known(participant), text, language, end, complete=False))

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
        self._check(self.guard.check_text(self._known(participant), text))

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

    def _check(self, decision: Coroutine[Any, Any, ConsentEvent | None]) -> None:
        async def check() -> None:
            event = await decision
            if event is not None:
                self._act(event)
        self._spawn(check())

    def _known(self, participant: Participant) -> Participant:
        return self._known_by_id.get(participant.id, participant)
