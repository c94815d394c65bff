"""Asking when unsure (consent.ask_when_unsure): the questions and how their answers are read.

When the semantic signal says an utterance may be an objection, but not surely enough to
stop (between consent.ask_threshold and consent.semantic_threshold), the assistant neither
stops silently nor ignores it: it asks the speaker, in the chat and briefly aloud, in the
session's language, whether it should leave (`ask_unsure` in announcements/<lang>.toml).

- The answer is that participant's next utterance or chat message that began after the
  question was put, within consent.ask_window_s. An objection, or an answer that means
  "yes, leave" (`[unsure_answers] leave`, after the `stay` phrases are cut out), stops
  the session exactly as an objection does; so does the leave button. Anything else
  carries on. Text that reproduces the spoken question (a microphone picking up the
  assistant) is not an answer.
- Until it is answered, that participant's new utterances are held, not kept: each is
  still checked for an objection. "Carry on" keeps them, and the utterance that raised
  the question. With no answer, the held ones are kept but the one that raised the
  question is not (nobody said it was not an objection): the note shows a gap there.
- A participant is asked at most once per consent.ask_every_min minutes; meanwhile an
  unsure utterance is kept, as it was before questions were asked.

This module holds the state and the answer rules; bot/consent/stage.py drives them.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from bot.audio.tts import render_speech_async
from bot.call.base import CallConnector
from bot.config import ConfigError
from bot.consent.announcements import Announcements
from bot.consent.audit import UnsureQuestion
from bot.consent.objection import normalize
from bot.transcribe.decoder import is_prompt_echo
from bot.transcribe.segment import Participant
from bot.transcribe.stream import Heard

NOT_KEPT = "not kept: it may have been an objection, and the question about it went unanswered"


def _compile(language: str, key: str, sources: list[str]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for source in sources:
        try:
            compiled.append(re.compile(rf"(?<!\w)(?:{source})(?!\w)"))
        except re.error as exc:
            raise ConfigError(f"announcements/{language}.toml: unsure_answers.{key}: bad pattern {source!r} "
                              f"({exc}). Fix: correct the regular expression.") from None
    return tuple(compiled)


class AnswerRules:
    """Whether an answer to the question means "yes, leave"."""

    def __init__(self, announcements: Announcements) -> None:
        self.language = announcements.language
        self.question = announcements.spoken.ask_unsure  # what a microphone may pick up again
        self._leave = _compile(self.language, "leave", announcements.unsure_answers.leave)
        self._stay = _compile(self.language, "stay", announcements.unsure_answers.stay)

    def means_leave(self, text: str) -> bool:
        said = normalize(text)
        for pattern in self._stay:
            said = pattern.sub(" | ", said)
        return any(pattern.search(said) for pattern in self._leave)

    def is_echo(self, text: str) -> bool:
        return is_prompt_echo(text, self.question)


@dataclass
class OpenQuestion:
    participant: Participant
    record: UnsureQuestion
    trigger: Heard | None  # the utterance that raised it (None: a chat message did)
    held: list[Heard] = field(default_factory=list)  # this participant's utterances since, not yet kept
    timer: asyncio.Future[None] | None = None


@dataclass
class Questions:
    """The open question of each participant and when each was last asked."""

    every_s: float
    open: dict[str, OpenQuestion] = field(default_factory=dict)
    last_asked_s: dict[str, float] = field(default_factory=dict)

    def may_ask(self, participant_id: str, now_s: float) -> bool:
        last = self.last_asked_s.get(participant_id)
        return participant_id not in self.open and (last is None or now_s - last >= self.every_s)

    def opened(self, question: OpenQuestion) -> None:
        self.open[question.participant.id] = question
        self.last_asked_s[question.participant.id] = question.record.asked_at_s

    def close(self, participant_id: str) -> OpenQuestion | None:
        question = self.open.pop(participant_id, None)
        if question is not None and question.timer is not None:
            question.timer.cancel()
        return question


async def deliver_question(connector: CallConnector, announcements: Announcements, name: str,
                           participant: Participant) -> bool:
    """Post the question to this participant and say it to them; whether either reached them."""
    posted = False
    if announcements.text.ask_unsure:
        posted = await connector.send_text(announcements.text_for("ask_unsure", name), to={participant.id})
    if not announcements.spoken.ask_unsure:
        return posted
    samples, rate = await render_speech_async(announcements.spoken_for("ask_unsure", name), announcements.voice,
                                              announcements.words_per_minute)
    delivery = await connector.speak(samples, rate, to={participant.id})
    return posted or delivery.played_s > 0
