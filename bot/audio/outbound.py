"""An outbound WebRTC audio track that plays queued PCM and is silent otherwise.

Each piece of speech is accounted for as it goes out (a `Delivery`: how many
seconds were handed to the encoder, and when the first frame was), so the audit
can say what a participant actually heard, not what was queued. `interrupt()`
cuts the current piece and drops the queue: an objection's acknowledgement must
not wait behind the rest of an announcement.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot.audio.pcm import WEBRTC_RATE, resample_pcm
from bot.call.base import Delivery

FRAME_MS = 20
SAMPLES_PER_FRAME = WEBRTC_RATE * FRAME_MS // 1000


class Playback:
    """One queued piece of speech; `delivery` fills in as its frames go out."""

    def __init__(self, samples: np.ndarray, done: asyncio.Future[Delivery]) -> None:
        self.samples = samples
        self.done = done
        self.delivery = Delivery(total_s=samples.size / WEBRTC_RATE)
        self.offset = 0

    def settle(self) -> None:
        if not self.done.done():
            self.done.set_result(self.delivery)


class PacedAudioTrack(MediaStreamTrack):
    """48 kHz mono, 20 ms frames paced on the track's own real-time clock (started by the first
    read), as a live sender's are. Subclasses say what a frame holds: `_next_chunk()` is called
    with `_pts` already at the frame's first sample."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    def _next_chunk(self) -> np.ndarray:
        raise NotImplementedError

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += SAMPLES_PER_FRAME
            wait = self._start + self._pts / WEBRTC_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame.from_ndarray(self._next_chunk().reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = WEBRTC_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, WEBRTC_RATE)
        return frame


class SpeakerTrack(PacedAudioTrack):
    """Plays queued speech, silent otherwise. `play()` queues speech and resolves, with its
    Delivery, when its last frame has been handed to the encoder, or when it was interrupted or
    the track stopped."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[Playback] = deque()
        self._current: Playback | None = None

    def play(self, samples: np.ndarray, rate: int) -> Playback:
        done: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        piece = Playback(resample_pcm(samples, rate, WEBRTC_RATE), done)
        if self.readyState != "live":
            piece.settle()  # nothing will ever be sent: played 0 s of it
        else:
            self._queue.append(piece)
        return piece

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    def interrupt(self) -> None:
        """Stop the current piece where it is and drop the queued ones (each resolves with what went out)."""
        pieces = ([self._current] if self._current is not None else []) + list(self._queue)
        self._current = None
        self._queue.clear()
        for piece in pieces:
            piece.settle()

    def _next_chunk(self) -> np.ndarray:
        out = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
        filled = 0
        while filled < SAMPLES_PER_FRAME:
            if self._current is None:
                if not self._queue:
                    break
                self._current = self._queue.popleft()
                self._current.delivery.started_at = time.monotonic()
            piece = self._current
            take = min(SAMPLES_PER_FRAME - filled, piece.samples.size - piece.offset)
            out[filled : filled + take] = piece.samples[piece.offset : piece.offset + take]
            filled += take
            piece.offset += take
            piece.delivery.played_s = piece.offset / WEBRTC_RATE
            if piece.offset >= piece.samples.size:
                piece.settle()
                self._current = None
        return out

    def stop(self) -> None:
        self.interrupt()
        super().stop()
