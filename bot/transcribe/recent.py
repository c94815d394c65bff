"""What a speaker said just before: the context each final of theirs is heard in (`decoder.Context`).

Decoded alone, a sentence loses what the sentences before it tell Whisper about the voice, the
language and the topic; heard after them, it comes out the way offline decoding of the whole
recording hears it. More than one previous utterance can help when they are short, as turns in a
conversation are, and a 10 s budget leaves room for more than one only then: the figures, small
and mixed through the whole pipeline, are in docs/transcription.md.

Only kept utterances are context, and an utterance the consent stage did not keep (held back before
the announcement reached the speaker, while paused, during a question) starts the chain again: a
final is never heard after, or across, speech that was not written down. What the recognizer's
filters dropped (noise, a cough) was never text, so it neither joins nor breaks the chain. The
audio stays in memory, bounded by the budget, and goes on discard.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from bot.audio.pcm import ASR_RATE
from bot.transcribe.decoder import CONTEXT_GAP_S, Context

# Bounds the forced prefix (each utterance's text may run to TOKENS_PER_SECOND x its length plus a
# margin): with the recognizer prompt and the new words, it stays inside Whisper's 448-token decoder.
MAX_UTTERANCES = 3


class RecentSpeech:
    """The last kept utterances of one speaker, and the context a new one is heard in."""

    def __init__(self, budget_s: float) -> None:
        # The whole window (context, gaps and the new utterance) stays within the budget, and so does
        # the decode's cost: a 10 s context in front of a 10 s utterance took one session's p95 past 1 s.
        self._budget = int(budget_s * ASR_RATE)
        self._gap = int(CONTEXT_GAP_S * ASR_RATE)
        self._kept: deque[Context] = deque(maxlen=MAX_UTTERANCES)

    def context_for(self, samples: np.ndarray) -> Context | None:
        """The most recent kept utterances that fit in the budget with this one, oldest first."""
        length = samples.size
        fitting: list[Context] = []
        for heard in reversed(self._kept):
            length += self._gap + heard.samples.size
            if length > self._budget:
                break
            fitting.append(heard)
        return Context.joined(fitting[::-1]) if fitting else None

    def kept(self, samples: np.ndarray, text: str) -> None:
        """The utterance was written down: the next one may be heard after it."""
        if samples.size + self._gap >= self._budget:  # could never be context: nothing before it can be either
            self.forget()
            return
        self._kept.append(Context(samples, text))

    def forget(self) -> None:
        """Not kept by the consent stage, or discarded: the next utterance is heard alone, never after
        an older one."""
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
