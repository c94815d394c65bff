"""Voice-activity segmentation of one participant's 16 kHz stream with webrtcvad.

The policy, in one place:
- audio is cut into `frame_ms` frames and each is classified speech / not speech;
- an utterance opens on the first speech frame (keeping `PRE_ROLL_MS` of audio
  before it so the first phoneme is not clipped);
- it closes after `hangover_ms` of consecutive non-speech, or when it reaches
  `max_utterance_s` (long monologues are cut so text arrives while they go on);
- utterances with less than `min_speech_ms` of speech are dropped (coughs, clicks),
  unless the segmenter was built with `keep_short`: then they come back marked `short`,
  for the objection check only ("Stop." is shorter than some coughs), never to be stored;
- after `early_final_ms` of silence (less than the hang-over) the utterance so far comes back
  marked `provisional`, without closing: it can be decoded while the hang-over runs. Its samples
  are exactly those of the utterance the hang-over then closes, unless speech resumed in between.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import webrtcvad

from bot.audio.pcm import ASR_RATE
from bot.config import VadSettings

PRE_ROLL_MS = 210


@dataclass(frozen=True)
class Utterance:
    """A span of speech: samples (int16, 16 kHz) and its position in the stream."""

    samples: np.ndarray
    start_s: float
    end_s: float
    # Not closed by a pause the speaker made, but by max_utterance_s, by a gap in the audio or by the end
    # of the stream: what was said may go on, so the words are a fragment.
    cut: bool
    short: bool = False  # under min_speech_ms: decoded for the objection check only, never kept
    provisional: bool = False  # still open: a pause that may end it (decode ahead); the close follows or not

    def same_speech(self, other: Utterance) -> bool:
        """The same span of speech: a provisional utterance that the hang-over confirmed."""
        return self.start_s == other.start_s and self.end_s == other.end_s


class VadSegmenter:
    def __init__(self, settings: VadSettings, rate: int = ASR_RATE, *, keep_short: bool = False) -> None:
        self._keep_short = keep_short
        self._vad = webrtcvad.Vad(settings.aggressiveness)
        self._rate = rate
        self._frame = rate * settings.frame_ms // 1000
        self._frame_ms = settings.frame_ms
        self._hangover_frames = max(1, settings.hangover_ms // settings.frame_ms)
        early_frames = settings.early_final_ms // settings.frame_ms
        self._early_frames = early_frames if early_frames < self._hangover_frames else 0
        self._min_speech_frames = max(1, settings.min_speech_ms // settings.frame_ms)
        self._max_frames = int(settings.max_utterance_s * 1000) // settings.frame_ms
        self._pending = np.zeros(0, dtype=np.int16)
        self._position = 0  # samples consumed so far
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, PRE_ROLL_MS // settings.frame_ms))
        self._active: list[np.ndarray] = []
        self._active_start = 0
        self._speech_frames = 0
        self._silent_run = 0

    @property
    def position_s(self) -> float:
        return self._position / self._rate

    @property
    def in_speech(self) -> bool:
        return bool(self._active)

    def push(self, samples: np.ndarray) -> list[Utterance]:
        """Feed int16 samples; return the utterances that closed."""
        self._pending = np.concatenate([self._pending, samples]) if self._pending.size else samples
        closed: list[Utterance] = []
        while self._pending.size >= self._frame:
            frame, self._pending = self._pending[: self._frame], self._pending[self._frame :]
            utterance = self._step(frame)
            if utterance is not None:
                closed.append(utterance)
        return closed

    @property
    def open_s(self) -> float:
        """Length of the open utterance so far (0 between utterances), without copying it."""
        return len(self._active) * self._frame / self._rate

    def current(self) -> tuple[np.ndarray, float] | None:
        """The open utterance so far (samples, start in seconds), or None between utterances."""
        if not self._active:
            return None
        return np.concatenate(self._active), self._active_start / self._rate

    def skip(self, samples: int) -> None:
        """Advance the clock over audio that is deliberately not examined."""
        self._position += samples

    def silence(self, samples: int) -> list[Utterance]:
        """Audio known to be missing (lost packets, a blackout) passes as silence: time advances and an
        open utterance closes as it would at a pause. Zeros are examined frame by frame only until the
        frame in progress is complete and no utterance is open (webrtcvad keeps saying "speech" for a
        few frames after speech, so the hang-over alone is not enough); the rest advances the clock."""
        closed: list[Utterance] = []
        examined = min(samples, (-self._pending.size) % self._frame)
        closed += self.push(np.zeros(examined, dtype=np.int16))
        while self._active and examined + self._frame <= samples:
            closed += self.push(np.zeros(self._frame, dtype=np.int16))
            examined += self._frame
        if samples > examined:
            if self._active or self._pending.size:  # what is left is less than a frame: examine it too
                closed += self.push(np.zeros(samples - examined, dtype=np.int16))
                return self._closed_by_gap(closed)
            self._pre_roll.clear()  # what came before the gap is not the lead-in of what follows it
            self._position += samples - examined
        return self._closed_by_gap(closed)

    @staticmethod
    def _closed_by_gap(utterances: list[Utterance]) -> list[Utterance]:
        """Missing audio is known at once to be no speech: nothing to decode ahead of the close. And
        the gap, not the speaker, ended what it closed."""
        return [replace(u, cut=True) for u in utterances if not u.provisional]

    def reset(self) -> None:
        """Forget the utterance in progress and any buffered audio (time keeps running)."""
        self._position += self._pending.size
        self._pending = np.zeros(0, dtype=np.int16)
        self._pre_roll.clear()
        self._active, self._speech_frames, self._silent_run = [], 0, 0

    def flush(self) -> Utterance | None:
        """End of stream: close an open utterance if it holds enough speech."""
        return self._close(cut=True) if self._active else None

    def _step(self, frame: np.ndarray) -> Utterance | None:
        is_speech = self._vad.is_speech(frame.tobytes(), self._rate)
        frame_start = self._position
        self._position += frame.size
        if not self._active:
            if is_speech:
                self._active = list(self._pre_roll) + [frame]
                self._active_start = frame_start - sum(f.size for f in self._pre_roll)
                self._pre_roll.clear()
                self._speech_frames, self._silent_run = 1, 0
            else:
                self._pre_roll.append(frame)
            return None
        self._active.append(frame)
        if is_speech:
            self._speech_frames += 1
            self._silent_run = 0
        else:
            self._silent_run += 1
        if self._silent_run >= self._hangover_frames:
            return self._close(cut=False)
        if len(self._active) >= self._max_frames:
            return self._close(cut=True)
        if self._silent_run == self._early_frames > 0:
            return self._snapshot(cut=False, provisional=True)
        return None

    def _close(self, cut: bool) -> Utterance | None:
        utterance = self._snapshot(cut, provisional=False)
        self._active, self._speech_frames, self._silent_run = [], 0, 0
        return utterance

    def _snapshot(self, cut: bool, provisional: bool) -> Utterance | None:
        frames = self._active
        # Trailing hang-over silence carries no words; keep a little of it only (the same little
        # whether taken early or at the close, so that an early decode heard the final's samples).
        keep_tail = min(self._silent_run, max(1, 150 // self._frame_ms))
        if self._silent_run > keep_tail:
            frames = frames[: len(frames) - (self._silent_run - keep_tail)]
        short = self._speech_frames < self._min_speech_frames
        if short and not self._keep_short:
            return None
        samples = np.concatenate(frames)
        start = self._active_start
        return Utterance(samples, start / self._rate, (start + samples.size) / self._rate, cut, short, provisional)
