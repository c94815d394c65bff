"""What was said just before an utterance, for judging it (issue 17 item 3).

Right after the assistant has announced itself, "can you turn that thing off?" means the assistant:
while the announcement plays and for `consent.context_s` after it, the language's deictic commands
("turn that thing off", "apáguelo", "éteignez ça", "spegni quella cosa", "mach das aus", "desliga
isso") are objections. Commands only, and in whole utterances only: "that thing" alone names nothing. And when the
clinician has just asked about the assistant ("Are you OK with the assistant today?"), a short "no"
or "not really" from someone else is an answer to that question: an objection. The rules for both
are in announcements/<language>.toml ([objection] deictic_patterns, refusals).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.transcribe.segment import Participant

ANSWER_WINDOW_S = 20.0  # how long after a question about the assistant a bare "no" answers it


@dataclass(frozen=True)
class Cues:
    """What the context lets an utterance mean."""

    bot_just_spoke: bool = False  # deictic phrases point at the assistant
    answering: bool = False  # a bare refusal answers the clinician's question about the assistant


NO_CONTEXT = Cues()


class ConversationContext:
    def __init__(self, context_s: float) -> None:
        self.context_s = context_s
        self._bot_spoke: list[tuple[float, float]] = []  # (start, end) of the assistant's announcements
        self._question: tuple[str, float] | None = None  # who asked about the assistant, and when
        self._awaiting: set[str] = set()  # participants the assistant has put a question to and awaits

    def bot_speaking(self, start_s: float, end_s: float) -> None:
        self._bot_spoke.append((start_s, end_s))
        del self._bot_spoke[:-8]  # only recent ones can matter

    def question_asked(self, participant: Participant, at_s: float) -> None:
        self._question = (participant.id, at_s)

    def awaiting_answer(self, participant_id: str, awaiting: bool) -> None:
        """While the assistant awaits someone's answer to its own question, their words answer that
        question (bot/consent/unsure.py), not the announcement before it."""
        (self._awaiting.add if awaiting else self._awaiting.discard)(participant_id)

    def cues(self, speaker: Participant, at_s: float | None) -> Cues:
        """The cues for an utterance by `speaker` ending (or typed) at `at_s` session seconds."""
        if at_s is None:
            return NO_CONTEXT
        after_bot = speaker.id not in self._awaiting \
            and any(start <= at_s <= end + self.context_s for start, end in self._bot_spoke)
        answering = self._question is not None and self._question[0] != speaker.id \
            and 0.0 <= at_s - self._question[1] <= ANSWER_WINDOW_S
        return Cues(bot_just_spoke=after_bot, answering=answering)
