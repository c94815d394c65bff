"""What was said just before an utterance, for judging it (issue 17 item 3).

Right after the assistant has announced itself, "can you turn that thing off?" or "not today,
thanks" answers the assistant: while the announcement plays, and afterwards for up to
`consent.context_s` until someone else takes the floor. Once the clinician has said more than a
backchannel ("How was your week?"), a "no" answers them, not the assistant: with a flat window, 2 of
the 87 ACI-BENCH dialogues replayed after an announcement stopped on a patient's "no." to the
doctor (docs/consent.md). When the clinician asks about the assistant ("Are you OK with the assistant
today?"), a short "no" or "not really" from someone else answers that question: an objection. When
they ask anything while the announcement is still the last thing said ("Is that OK with you?"), the
same answer is ambiguous ("Do you mind?" → "No."), so the assistant asks (consent.ask_when_unsure).
Context gives meaning to whole utterances only (guard.py). The rules for both are in
announcements/<language>.toml ([objection] deictic_patterns, refusals).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.notes.text import is_question
from bot.transcribe.segment import Participant

ANSWER_WINDOW_S = 20.0  # how long after a question about the assistant a bare "no" answers it
BACKCHANNEL_WORDS = 2  # "Okay.", "Mm-hmm.", "Right, right." acknowledge; they do not take the floor
RECENT_TURNS = 16


@dataclass(frozen=True)
class Cues:
    """What the context lets an utterance mean."""

    bot_just_spoke: bool = False  # deictic phrases point at the assistant
    answering: bool = False  # a bare refusal answers the clinician's question about the assistant
    # ... or answers a question that followed the announcement without naming the assistant: "no" to
    # "Is that OK with you?" refuses, to "Do you mind?" accepts, so the assistant asks.
    answering_unnamed: bool = False


NO_CONTEXT = Cues()


class ConversationContext:
    def __init__(self, context_s: float) -> None:
        self.context_s = context_s
        self._bot_spoke: list[tuple[float, float]] = []  # (start, end) of the assistant's announcements
        self._question: tuple[str, float, bool] | None = None  # who asked about the assistant, when, named it
        self._awaiting: set[str] = set()  # participants the assistant has put a question to and awaits
        self._turns: list[tuple[str, float]] = []  # (who, end) of recent utterances that took the floor

    def bot_speaking(self, start_s: float, end_s: float) -> None:
        self._bot_spoke.append((start_s, end_s))
        del self._bot_spoke[:-8]  # only recent ones can matter

    def spoke(self, participant: Participant, text: str, end_s: float | None) -> None:
        """A participant's final utterance (typed chat does not take the floor)."""
        if end_s is None or _backchannel(text):
            return
        self._turns.append((participant.id, end_s))
        del self._turns[:-RECENT_TURNS]

    def question_asked(self, participant: Participant, at_s: float, named: bool = True) -> None:
        """`named`: the question named the assistant or the recording, rather than following the announcement."""
        self._question = (participant.id, at_s, named)

    def awaiting_answer(self, participant_id: str, awaiting: bool) -> None:
        """While the assistant awaits someone's answer to its own question, their words answer that
        question (bot/consent/unsure.py), not the announcement before it."""
        (self._awaiting.add if awaiting else self._awaiting.discard)(participant_id)

    def cues(self, speaker: Participant, at_s: float | None, start_s: float | None = None) -> Cues:
        """The cues for an utterance by `speaker` that began at `start_s` and ended (or was typed) at
        `at_s` session seconds."""
        if at_s is None:
            return NO_CONTEXT
        began = at_s if start_s is None else start_s
        after_bot = speaker.id not in self._awaiting and any(
            start <= at_s <= end + self.context_s and not self._floor_taken(speaker, end, began)
            for start, end in self._bot_spoke)
        answering = self._question is not None and self._question[0] != speaker.id \
            and 0.0 <= at_s - self._question[1] <= ANSWER_WINDOW_S \
            and not self._floor_taken(speaker, self._question[1], began)
        named = self._question is not None and self._question[2]
        return Cues(bot_just_spoke=after_bot, answering=answering and named, answering_unnamed=answering and not named)

    def _floor_taken(self, speaker: Participant, since_s: float, before_s: float) -> bool:
        """Whether someone other than `speaker` said more than a backchannel after `since_s` and before
        `before_s`: then they, not the assistant, spoke last."""
        return any(who != speaker.id and since_s < end <= before_s for who, end in self._turns)


def _backchannel(text: str) -> bool:
    return len(text.split()) <= BACKCHANNEL_WORDS and not is_question(text)
