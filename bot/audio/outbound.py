"""An outbound WebRTC audio track that plays queued PCM and is silent otherwise."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bot.audio.pcm import WEBRTC_RATE, resample_pcm

FRAME_MS = 20
SAMPLES_PER_FRAME = WEBRTC_RATE * FRAME_MS // 1000


class SpeakerTrack(MediaStreamTrack):
    """48 kHz mono, 20 ms frames paced in real time. `play()` queues speech and
    resolves when its last frame has been handed to the encoder."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[tuple[np.ndarray, asyncio.Future[None]]] = deque()
        self._current: np.ndarray | None = None
        self._current_done: asyncio.Future[None] | None = None
        self._offset = 0
        self._pts = 0
        self._start: float | None = None

    def play(self, samples: np.ndarray, rate: int) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((resample_pcm(samples, rate, WEBRTC_RATE), done))
        return done

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    def _next_chunk(self) -> np.ndarray:
        out = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
        filled = 0
        while filled < SAMPLES_PER_FRAME:
            if self._current is None:
                if not self._queue:
                    break
                self._current, self._current_done = self._queue.popleft()
                self._offset = 0
            take = min(SAMPLES_PER_FRAME - filled, self._current.size - self._offset)
            out[filled : filled + take] = self._current[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset >= self._current.size:
                if self._current_done is not None and not self._current_done.done():
                    self._current_done.set_result(None)
                self._current, self._current_done = None, None
        return out

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

    def stop(self) -> None:
        for _, done in self._queue:
            if not done.done():
                done.cancel()
        self._queue.clear()
        if self._current_done is not None and not self._current_done.done():
            self._current_done.cancel()
        self._current = None
        super().stop()
