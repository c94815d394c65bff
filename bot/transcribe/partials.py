"""When a stream decodes a partial of the utterance still being spoken, and which of its audio.

While an utterance is open and longer than `partial_after_s`, its last `partial_window_s` seconds
are transcribed every `partial_every_s`, at most one partial in flight per stream, so captions and
objection detection do not wait for the speaker to pause. The window bounds their cost: re-decoding
the whole open utterance would cost more with every second someone talks. A partial starts only
when a decoder worker is idle, so under load partials thin out instead of delaying finals
(measured: they were two thirds of all compute). Partials are shown and checked, never stored.
"""

from __future__ import annotations

import numpy as np

from bot.audio.pcm import ASR_RATE
from bot.config import TranscriptionSettings


class PartialSchedule:
    """One stream's partials: due, shed or in flight."""

    def __init__(self, settings: TranscriptionSettings) -> None:
        self._after_s = settings.partial_after_s
        self._every_s = settings.partial_every_s
        self._window = int(settings.partial_window_s * ASR_RATE)
        self._next_s = 0.0
        self._shed = False
        self.in_flight = False

    def due(self, open_s: float) -> bool:
        """Whether the open utterance, `open_s` long so far, is due a partial now (never with
        `partial_after_s` 0: partials off)."""
        enabled = self._after_s > 0
        return enabled and not self.in_flight and open_s > 0 and open_s >= max(self._after_s, self._next_s)

    def shed(self) -> bool:
        """A due partial is skipped (no idle worker); True the first time for this due time, so that it is
        counted once, not on every chunk that finds the workers busy."""
        first, self._shed = not self._shed, True
        return first

    def start(self, samples: np.ndarray, start_s: float, open_s: float) -> tuple[np.ndarray, float]:
        """The partial begins: the recent window of the open utterance, and where that window starts."""
        if 0 < self._window < samples.size:
            start_s += (samples.size - self._window) / ASR_RATE
            samples = samples[-self._window :]
        self._next_s = open_s + self._every_s
        self._shed = False
        self.in_flight = True
        return samples, start_s

    def finished(self) -> None:
        self.in_flight = False

    def utterance_closed(self) -> None:
        self._next_s = 0.0
