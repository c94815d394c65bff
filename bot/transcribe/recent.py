"""What a speaker said just before: the context each final of theirs is heard in (`decoder.Context`).

Decoded alone, a sentence loses what the sentences before it tell Whisper about the voice, the
language and the topic; heard after them, it comes out the way offline decoding of the whole
recording hears it. More than one previous utterance can help when they are short, as turns in a
conversation are, and a 10 s budget leaves room for more than one only then: the figures, small
and mixed through the whole pipeline, are in docs/transcription.md.

Only kept utterances are context, and an utterance the consent stage did not keep (held back before
the announcement reached the speaker, while paused, during a question) or that was lost (overload,
a recognizer error) starts the chain again: a final is never heard after, or across, speech that was
not written down. What the recognizer's filters dropped (noise, a cough) was never text, so it
neither joins nor breaks the chain. A final whose predecessor is still being decoded or judged is
heard alone: its context would otherwise skip that utterance, which may yet turn out unkept. The
audio stays in memory, bounded by the budget, and goes on discard.
"""

from __future__ import annotations

import bisect

import numpy as np

from bot.audio.pcm import ASR_RATE
from bot.transcribe.decoder import CONTEXT_GAP_S, Context

# Bounds the forced prefix (each utterance's text may run to TOKENS_PER_SECOND x its length plus a
# margin): with the recognizer prompt and the new words, it stays inside Whisper's 448-token decoder.
MAX_UTTERANCES = 3

Ticket = int  # an utterance's place in its speaker's order of finals


class RecentSpeech:
    """The last kept utterances of one speaker, and the context a new one is heard in.

    Every final takes a ticket when it closes (`open`) and settles it once its fate is known, so that
    the chain follows the order in which things were said, not the order decodes finish in."""

    def __init__(self, budget_s: float) -> None:
        # The whole window (context, gaps and the new utterance) stays within the budget, and so does
        # the decode's cost: a 10 s context in front of a 10 s utterance took one session's p95 past 1 s.
        self._budget = int(budget_s * ASR_RATE)
        self._gap = int(CONTEXT_GAP_S * ASR_RATE)
        self._kept: list[tuple[Ticket, Context]] = []  # in the order they were said
        self._unsettled: set[Ticket] = set()
        self._next: Ticket = 0

    def open(self) -> Ticket:
        """A final closed: its ticket, to settle once it is kept, not kept or dropped."""
        ticket, self._next = self._next, self._next + 1
        self._unsettled.add(ticket)
        return ticket

    @property
    def upcoming(self) -> Ticket:
        """The ticket the utterance still being spoken will take: an early decode of it is heard as that."""
        return self._next

    def context_for(self, samples: np.ndarray, ticket: Ticket) -> Context | None:
        """The most recent kept utterances before `ticket` that fit in the budget with this one, oldest
        first; none while an earlier final is unsettled."""
        if any(earlier < ticket for earlier in self._unsettled):
            return None
        length = samples.size
        fitting: list[Context] = []
        for said, heard in reversed(self._kept):
            if said >= ticket:
                continue
            length += self._gap + heard.samples.size
            if length > self._budget:
                break
            fitting.append(heard)
        return Context.joined(fitting[::-1]) if fitting else None

    def kept(self, ticket: Ticket, samples: np.ndarray, text: str) -> None:
        """The utterance was written down: a later one may be heard after it."""
        if samples.size + self._gap >= self._budget:  # could never be context: nothing before it can be either
            self.not_kept(ticket)
            return
        self._unsettled.discard(ticket)
        bisect.insort(self._kept, (ticket, Context(samples, text)), key=lambda entry: entry[0])
        del self._kept[:-MAX_UTTERANCES]

    def not_kept(self, ticket: Ticket) -> None:
        """Not kept by the consent stage, or lost: no later utterance is heard after an earlier one."""
        self._unsettled.discard(ticket)
        self._kept = [(said, heard) for said, heard in self._kept if said > ticket]

    def dropped(self, ticket: Ticket) -> None:
        """Never text (the filters dropped it, or it was too short to keep): neither joins nor breaks
        the chain. Settling a settled ticket does nothing."""
        self._unsettled.discard(ticket)

    def forget(self) -> None:
        """Discarded: everything goes, and nothing said so far is context again."""
        self._kept.clear()
        self._unsettled.clear()

    def __len__(self) -> int:
        return len(self._kept)
